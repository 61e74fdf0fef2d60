#!/usr/bin/env python3
"""Writes the small synthetic data sets of the fill-mask and multiple-choice tasks.

    python3 data/make_task_samples.py

- data/fill-mask-sample/{train,validation}.txt: one sentence per line, from templates
  with strong regularities (an animal fixes its sound, home and food; a number its
  successor; a thing its colour), so a masked LM's perplexity falls quickly.
- data/multiple-choice-sample/{train,validation}.jsonl: SWAG fields (`sent1`, `sent2`,
  `ending0`..`ending3`, `label`). The context asks for a sound; the right ending is the
  animal's own sound, the three distractors are endings of the wrong kind (a colour, a
  place, a food), so a small model learns it within a few epochs (chance is 1/4).

Standard library only; deterministic (seeded `random.Random`).
"""

import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent

ANIMALS = {
    # animal: (sound, home, food)
    "dog": ("barks", "yard", "meat"),
    "cat": ("meows", "house", "fish"),
    "cow": ("moos", "field", "grass"),
    "duck": ("quacks", "pond", "bread"),
    "bird": ("sings", "tree", "seeds"),
    "horse": ("neighs", "stable", "hay"),
    "sheep": ("bleats", "meadow", "clover"),
    "pig": ("grunts", "farm", "corn"),
}
NUMBERS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
COLOURS = {"sky": "blue", "grass": "green", "snow": "white", "sun": "yellow",
           "coal": "black", "blood": "red", "orange": "orange", "cloud": "grey"}
ADJECTIVES = ["big", "small", "old", "young", "happy", "tired"]
TIMES = ["morning", "evening", "night", "day"]


def fill_mask_line(rng: random.Random) -> str:
    kind = rng.randrange(5)
    animal = rng.choice(sorted(ANIMALS))
    sound, home, food = ANIMALS[animal]
    adj = rng.choice(ADJECTIVES)
    if kind == 0:
        return f"the {adj} {animal} {sound} in the {home} every {rng.choice(TIMES)} ."
    if kind == 1:
        return f"a {animal} likes to eat {food} and lives in the {home} ."
    if kind == 2:
        i = rng.randrange(len(NUMBERS) - 1)
        return f"after {NUMBERS[i]} comes {NUMBERS[i + 1]} ."
    if kind == 3:
        thing = rng.choice(sorted(COLOURS))
        return f"the colour of the {thing} is {COLOURS[thing]} ."
    return f"when the {animal} is hungry it {sound} for {food} ."


def choice_example(rng: random.Random) -> dict:
    animal = rng.choice(sorted(ANIMALS))
    sound = ANIMALS[animal][0]
    food = rng.choice(sorted({f for _, _, f in ANIMALS.values()}))
    adj = rng.choice(ADJECTIVES)
    colour = rng.choice(sorted(set(COLOURS.values())))
    place = rng.choice(sorted({h for _, h, _ in ANIMALS.values()}))
    endings = [f"{sound} loudly .", f"likes to eat {food} .",
               f"is {colour} today .", f"goes to the {place} ."]
    order = list(range(4))
    rng.shuffle(order)
    shuffled = [endings[i] for i in order]
    return {"sent1": f"the {adj} {animal} wants to make a sound .",
            "sent2": f"so the {animal}",
            **{f"ending{i}": e for i, e in enumerate(shuffled)},
            "label": order.index(0)}


def words() -> list:
    """Every word the two data sets use (for the fixture tokenizer's vocabulary)."""
    out = set(ADJECTIVES) | set(TIMES) | set(NUMBERS) | set(COLOURS) | set(COLOURS.values())
    for animal, values in ANIMALS.items():
        out |= {animal, *values}
    out |= set("the a in every likes to eat and lives after comes colour of is when hungry it "
               "for wants make sound so loudly today goes .".split())
    return sorted(out)


def main() -> None:
    mlm = ROOT / "fill-mask-sample"
    mc = ROOT / "multiple-choice-sample"
    mlm.mkdir(exist_ok=True)
    mc.mkdir(exist_ok=True)
    for split, n, seed in [("train", 800, 1), ("validation", 120, 2)]:
        rng = random.Random(seed)
        lines = [fill_mask_line(rng) for _ in range(n)]
        (mlm / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for split, n, seed in [("train", 400, 3), ("validation", 80, 4)]:
        rng = random.Random(seed)
        rows = [json.dumps(choice_example(rng)) for _ in range(n)]
        (mc / f"{split}.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
