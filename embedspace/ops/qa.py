"""Questions and answers over a FAQ: the space holds the known questions (as content) and
their answers (a metadata field); a new question gets the answer of the most similar known
question, with that similarity as the confidence, or no answer below ``threshold``."""

from __future__ import annotations

from dataclasses import dataclass

from embedspace.errors import InvalidInput
from embedspace.store.space import Space


@dataclass(frozen=True)
class Answer:
    """A candidate answer: the matched question, its answer and the confidence."""

    question: str
    answer: str | None
    matched_question: str
    id: str
    score: float
    confident: bool


def ask(
    space: Space, question: str, *, k: int = 3, threshold: float = 0.5, answer_field: str = "answer"
) -> list[Answer]:
    """The ``k`` best answers to ``question``, best first; ``confident`` is False below
    ``threshold`` (the caller should then say it has no good answer)."""
    if not question.strip():
        raise InvalidInput("Ask a question (the text is empty).")
    matches = space.search(question, k=k)
    if matches and answer_field not in matches[0].metadata:
        fields = ", ".join(sorted(matches[0].metadata)) or "none"
        raise InvalidInput(
            f"Items of '{space.name}' have no '{answer_field}' field (they have: {fields}). "
            "Index a question-answer file (--text-field question), or name the field "
            "with --answer-field."
        )
    return [
        Answer(
            question,
            str(m.metadata.get(answer_field)) if m.metadata.get(answer_field) is not None else None,
            m.content,
            m.id,
            round(m.score, 6),
            m.score >= threshold,
        )
        for m in matches
    ]
