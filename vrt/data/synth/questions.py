"""Templated questions over a scene that need reasoning over two or more objects.

Kinds: nearest object, colour of the nearest object, counting by colour, extreme position
within a colour group, height comparison, function (what could roll). Text marks object
mentions as `[[i]]` (i = index into scene.shapes); each source layout renders the marks its
own way; every mark follows the object's name, so an empty mention leaves plain text. The vocabulary is small and fixed so a tiny model can learn it.

    qa = make_qa(scene, rng)  # None when no template fits the scene
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vrt.data.synth.scene import Scene

MARK = re.compile(r"\[\[(\d+)\]\]")


@dataclass(frozen=True)
class QA:
    kind: str
    question: str
    reasoning: str  # with [[i]] marks, trace order = order of first mark
    answer: str  # with [[i]] marks
    answer_ids: list[int]
    classes: list[str]
    phrase: str  # short answer without marks ("the blue square", "3")

    @property
    def reasoning_ids(self) -> list[int]:
        ids: list[int] = []
        for m in MARK.finditer(self.reasoning):
            if int(m.group(1)) not in ids:
                ids.append(int(m.group(1)))
        return ids


def _unique(scene: Scene) -> list[int]:
    names = [s.name for s in scene.shapes]
    return [i for i, n in enumerate(names) if names.count(n) == 1]


def _dist(scene: Scene, i: int, j: int) -> float:
    (xa, ya), (xb, yb) = scene.shapes[i].centre, scene.shapes[j].centre
    return float(np.hypot(xa - xb, ya - yb))


def _nearest(scene: Scene, rng: np.random.Generator) -> tuple[int, int] | None:
    refs = _unique(scene)
    rng.shuffle(refs)
    for r in refs:
        others = sorted((_dist(scene, r, j), j) for j in range(len(scene.shapes)) if j != r)
        if len(others) >= 2 and others[0][0] < 0.8 * others[1][0]:
            return r, others[0][1]
    return None


def nearest(scene: Scene, rng: np.random.Generator) -> QA | None:
    pair = _nearest(scene, rng)
    if pair is None:
        return None
    r, n = pair
    a, b = scene.shapes[r].name, scene.shapes[n].name
    return QA(
        "nearest",
        f"Which object is closest to the {a}?",
        f"First find the {a} [[{r}]]. The object closest to it is the {b} [[{n}]].",
        f"The {b} [[{n}]].",
        [n],
        ["#loc"],
        f"the {b}",
    )


def colour_of_nearest(scene: Scene, rng: np.random.Generator) -> QA | None:
    pair = _nearest(scene, rng)
    if pair is None:
        return None
    r, n = pair
    a, b = scene.shapes[r].name, scene.shapes[n].name
    colour = scene.shapes[n].colour
    return QA(
        "colour",
        f"What colour is the object closest to the {a}?",
        f"First find the {a} [[{r}]]. The object closest to it is the {b} [[{n}]], which is {colour}.",
        f"It is {colour}: the {b} [[{n}]].",
        [n],
        ["#visf", "#loc"],
        colour,
    )


def count(scene: Scene, rng: np.random.Generator) -> QA | None:
    groups = {
        c: [i for i, s in enumerate(scene.shapes) if s.colour == c] for c in {s.colour for s in scene.shapes}
    }
    options = sorted(c for c, g in groups.items() if len(g) >= 2)
    if not options:
        return None
    colour = options[int(rng.integers(len(options)))]
    members = groups[colour]
    listed = ", ".join(f"the {scene.shapes[i].shape} [[{i}]]" for i in members)
    return QA(
        "count",
        f"How many {colour} objects are there?",
        f"The {colour} objects are {listed}. That makes {len(members)}.",
        f"There are {len(members)}: {listed}.",
        members,
        ["#comp", "#visf"],
        str(len(members)),
    )


_DIRECTIONS = {"left": (0, min), "right": (0, max), "top": (1, min), "bottom": (1, max)}


def extreme(scene: Scene, rng: np.random.Generator) -> QA | None:
    direction = list(_DIRECTIONS)[int(rng.integers(4))]
    axis, pick = _DIRECTIONS[direction]
    for colour in sorted({s.colour for s in scene.shapes}):
        members = [i for i, s in enumerate(scene.shapes) if s.colour == colour]
        if len(members) < 2:
            continue
        pos = {i: scene.shapes[i].centre[axis] for i in members}
        best = pick(members, key=pos.get)
        if all(abs(pos[best] - pos[j]) >= 8 for j in members if j != best):
            listed = ", ".join(f"the {scene.shapes[i].shape} [[{i}]]" for i in members)
            name = scene.shapes[best].name
            return QA(
                "extreme",
                f"Which {colour} object is nearest the {direction} edge?",
                f"The {colour} objects are {listed}. Of these, the {name} [[{best}]] is nearest the {direction} edge.",
                f"The {name} [[{best}]].",
                [best],
                ["#loc", "#visf"],
                f"the {name}",
            )
    return None


def higher(scene: Scene, rng: np.random.Generator) -> QA | None:
    refs = _unique(scene)
    rng.shuffle(refs)
    for i in refs:
        for j in refs:
            dy = scene.shapes[i].centre[1] - scene.shapes[j].centre[1]
            if i != j and abs(dy) >= 8:
                top = i if dy < 0 else j
                a, b, t = scene.shapes[i].name, scene.shapes[j].name, scene.shapes[top].name
                return QA(
                    "higher",
                    f"Which is higher, the {a} or the {b}?",
                    f"Compare the {a} [[{i}]] with the {b} [[{j}]]. The {t} [[{top}]] is higher.",
                    f"The {t} [[{top}]].",
                    [top],
                    ["#loc", "#comp"],
                    f"the {t}",
                )
    return None


def rolls(scene: Scene, rng: np.random.Generator) -> QA | None:
    circles = [i for i, s in enumerate(scene.shapes) if s.shape == "circle"]
    if not circles or len(circles) == len(scene.shapes):
        return None
    listed = ", ".join(f"the {s.name} [[{i}]]" for i, s in enumerate(scene.shapes))
    chosen = ", ".join(f"the {scene.shapes[i].name} [[{i}]]" for i in circles)
    return QA(
        "rolls",
        "Which objects could roll away?",
        f"Only circles can roll. The objects are {listed}. The circles are {chosen}.",
        f"The circles: {chosen}.",
        circles,
        ["#func", "#visf"],
        f"{len(circles)} circle(s)",
    )


TEMPLATES: tuple[Callable[[Scene, np.random.Generator], QA | None], ...] = (
    nearest,
    colour_of_nearest,
    count,
    extreme,
    higher,
    rolls,
)


def make_qa(scene: Scene, rng: np.random.Generator) -> QA | None:
    """One question for the scene from a random template that fits (None if none fits)."""
    order = rng.permutation(len(TEMPLATES))
    for t in order:
        qa = TEMPLATES[int(t)](scene, rng)
        if qa is not None:
            return qa
    return None


def render(text: str, mention: Callable[[int], str]) -> str:
    """Replace every `[[i]]` mark with `mention(i)`, then tidy spaces left by empty mentions."""
    out = MARK.sub(lambda m: mention(int(m.group(1))), text)
    return re.sub(r" +([.,:])", r"\1", re.sub(r"  +", " ", out)).strip()
