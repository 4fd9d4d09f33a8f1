"""Trainers: they fit encoders on the user's own data and save them as folders that load
like any other encoder. Torch is imported only inside them."""
