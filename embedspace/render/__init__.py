"""Pictures of embeddings as files (interactive HTML or PNG): labelled points, similarity
heatmaps and maps of a space. Shared by the faces (the CLI, the web UI); sits beside
``ops`` and never imports a face."""

from embedspace.render.pictures import Picture, draw_heatmap, draw_map, draw_words

__all__ = ["Picture", "draw_heatmap", "draw_map", "draw_words"]
