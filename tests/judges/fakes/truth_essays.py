"""Synthetic argumentative essays for the truth scenario: distinct, plausible texts on one
topic (the look-alike judges them by their known ability, not by their words)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["INSTRUCTIONS", "RUBRIC", "TOPIC", "EssayWriter"]

TOPIC = "Should mobile phones be banned in secondary schools?"

INSTRUCTIONS = (
    "Compare the two essays as answers to the assignment. Judge the whole essay: how clearly it "
    "argues a position, how well the reasons are developed and organised, and how accurate and "
    "varied the English is."
)
RUBRIC = (
    "The better essay takes a clear position, supports it with developed reasons and examples, "
    "answers an obvious objection, is organised in paragraphs and uses accurate, varied English."
)


_OPENINGS = (
    "Many schools are now discussing whether mobile phones should be banned during the "
    "school day.",
    "Almost every pupil in my school owns a mobile phone, and the question of a ban comes up "
    "often.",
    "Mobile phones have become part of everyday life, so it is natural to ask if they belong "
    "in school.",
    "Last term our school council debated a complete ban on phones in lessons and breaks.",
    "Whether phones should be allowed in secondary schools is a question that divides parents "
    "and pupils.",
    "Some countries have already banned phones in schools, and many people want the same here.",
)
_POSITIONS = (
    "In my opinion a total ban would do more harm than good.",
    "I believe that phones should be banned during lessons but allowed in the breaks.",
    "I think a clear ban is the best solution for both pupils and teachers.",
    "My view is that schools should teach responsible use instead of banning phones.",
    "I am convinced that a ban would improve concentration and the social life of pupils.",
)
_REASONS = (
    "Phones distract pupils, because a single message can break the concentration of a whole row.",
    "Many pupils use their phones to look up words, check timetables and read digital textbooks.",
    "Without phones, pupils talk to each other in the breaks instead of staring at screens.",
    "Parents often want to reach their children quickly when plans change after school.",
    "Cyberbullying frequently starts during the school day, when adults are not watching.",
    "Learning to manage a phone is a skill that young people need for their adult lives.",
    "Teachers lose valuable time when they have to ask pupils again and again to put phones away.",
    "Some pupils cannot afford the newest phones, and a ban removes one reason for envy.",
)
_EXAMPLES = (
    "In my own class of {n} pupils, {k} admitted in a survey that they check their phone "
    "during {subject}.",
    "A study from {place} reported that test results rose by {p} per cent after a phone ban.",
    "When our {subject} teacher collected the phones for {k} weeks, the lessons became "
    "noticeably calmer.",
    "My cousin in {place} goes to a school without phones, and she says the breaks are livelier.",
    "During a trip to {place} last year, our class used phones to find the way and to take notes.",
    "Our school tried phone-free Fridays for {k} weeks, and {n} pupils signed a letter about it.",
)
_OBJECTIONS = (
    "Some people argue that a ban is unfair to responsible pupils.",
    "Critics say that phones are useful tools in an emergency.",
    "It is often claimed that pupils will simply hide their phones.",
    "Others point out that many lessons now depend on digital tools.",
)
_REPLIES = (
    "However, the school phone and the office can handle real emergencies.",
    "Even so, clear rules and lockers make such problems rare.",
    "Nevertheless, school computers can replace phones for most tasks.",
    "Still, a rule that everybody follows is easier to respect than a vague one.",
)
_CONCLUSIONS = (
    "To sum up, the advantages of my position clearly outweigh the disadvantages.",
    "For these reasons, schools should think carefully before they change their rules.",
    "In conclusion, the question is not only about phones but about how we want to learn together.",
    "All things considered, a sensible rule would help pupils, teachers and parents alike.",
)
_SUBJECTS = ("maths", "history", "English", "biology", "geography", "chemistry", "music")
_PLACES = ("Norway", "Uppsala", "France", "Scotland", "Gothenburg", "Finland", "Denmark")


class EssayWriter:
    """Distinct, plausible argumentative essays; longer and more developed for higher
    abilities (only for plausibility: the look-alike judges by the known ability)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.seen: set[str] = set()

    def _pick(self, pool: Sequence[str], k: int = 1) -> list[str]:
        return [pool[int(i)] for i in self.rng.choice(len(pool), size=k, replace=False)]

    def _example(self) -> str:
        template = self._pick(_EXAMPLES)[0]
        return template.format(n=int(self.rng.integers(18, 32)), k=int(self.rng.integers(2, 9)),
                               p=int(self.rng.integers(3, 15)),
                               subject=self._pick(_SUBJECTS)[0], place=self._pick(_PLACES)[0])

    def essay(self, theta: float) -> str:
        for _ in range(1000):
            text = self._compose(theta)
            if text not in self.seen:
                self.seen.add(text)
                return text
        raise RuntimeError("could not write a distinct essay")

    def _compose(self, theta: float) -> str:
        n_reasons = int(np.clip(round(2 + theta / 1.5 + self.rng.normal(0, 0.5)), 1, 4))
        intro = " ".join([*self._pick(_OPENINGS), *self._pick(_POSITIONS)])
        body = " ".join([*self._pick(_REASONS, n_reasons), self._example()])
        paragraphs = [intro, body]
        if theta > -1.0:
            paragraphs.append(" ".join([*self._pick(_OBJECTIONS), *self._pick(_REPLIES)]))
        if theta > 0.5:
            paragraphs.append(self._example() + " " + self._pick(_REASONS)[0])
        paragraphs.append(self._pick(_CONCLUSIONS)[0])
        text = "\n\n".join(paragraphs)
        if theta < -1.5:  # weaker essays: a lower-case "i" and lower-case sentence starts
            text = text.replace("I ", "i ").replace(". T", ". t").replace(". M", ". m")
        return text + "\n"
