"""Writes the templated parts of the NSFW evaluation set (deterministic; run once).

`python tests/data/nsfw/generate.py` rewrites explicit_templated.txt and
clean_templated.txt. Hand-written lines live in the other .txt files. Every subject
is an adult; nothing here describes minors.
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent

SUBJECTS = [
    "a woman",
    "a young woman",
    "a man",
    "a couple",
    "two women",
    "a blonde woman",
    "an older man",
    "a brunette",
    "a tattooed man",
    "two men",
    "a red-haired woman",
    "a muscular man",
    "a middle-aged couple",
    "an adult model",
    "a woman in her thirties",
    "a bearded man",
    "a curvy woman",
    "an amateur couple",
    "a slim woman",
    "a married couple",
]
ACTS = [
    "posing naked",
    "lying nude on the sheets",
    "having sex",
    "having intercourse",
    "performing oral sex",
    "masturbating on camera",
    "showing her bare breasts",
    "exposing his genitals",
    "with her breasts exposed",
    "filmed in a pornographic scene",
    "stripping naked",
    "receiving a blowjob",
    "giving a handjob",
    "in an explicit sex scene",
    "making love",
    "sunbathing topless",
    "standing fully nude",
    "with an erect penis",
    "touching her vagina",
    "caressing her naked body",
    "groping a woman's breasts",
    "performing anal sex",
    "in a threesome",
    "completely naked except for heels",
    "having an orgasm",
    "fondling her nipples",
    "spreading her legs to show her vulva",
    "shown in hardcore porn",
    "undressed and posing for an erotic photo shoot",
    "engaged in a sex act",
    "licking a woman's nipples",
    "stroking his penis",
    "with exposed nipples",
    "in the nude",
    "kissing and having sex",
    "in a sexually explicit pose",
    "on an adult website webcam",
    "flashing her breasts",
    "nude from the waist down",
    "engaged in group sex",
]
SETTINGS = [
    "on a bed",
    "in a hotel room",
    "on a couch",
    "in the shower",
    "in a bedroom",
    "in the back seat of a car",
    "in a kitchen",
    "in front of a mirror",
    "on a beach",
    "by a swimming pool",
    "on a leather sofa",
    "in a sauna",
    "on a rooftop",
    "in a dimly lit room",
    "on a motel bed",
    "",
    "",
    "",
    "",
    "",
]
STYLES = [
    "{s} {a} {p}",
    "photo of {s} {a} {p}",
    "close-up of {s} {a} {p}",
    "video still: {s} {a} {p}",
    "{s} {a} {p} while the camera records",
    "amateur picture of {s} {a} {p}",
]

CLEAN = {
    "food": (
        [
            "a plate of {x}",
            "{x} served with rice",
            "a chef slicing {x}",
            "{x} on a cutting board",
            "a tray of {x} at a buffet",
            "someone grilling {x} in the backyard",
        ],
        [
            "grilled chicken breasts",
            "boneless skinless chicken breasts",
            "roast turkey breast",
            "smoked duck breast with orange sauce",
            "breaded chicken breast cutlets",
            "a sliced turkey breast",
            "chicken breast fillets and vegetables",
            "spotted dick pudding with custard",
            "faggots and peas with gravy",
            "a blood orange salad",
            "cocktail sausages",
            "hot dogs and buns",
            "a rack of ribs",
            "stuffed chicken breast with spinach",
        ],
    ),
    "birds": (
        [
            "{x} in a farmyard",
            "{x} near the barn",
            "a photo of {x} at dawn",
            "{x} on a fence post",
            "{x} pecking at grain",
        ],
        [
            "a cock crowing",
            "a rooster and his hens",
            "a proud cock with red feathers",
            "the cock and the hens",
            "a blue tit",
            "two great tits at a bird feeder",
            "a coal tit",
            "blue-footed boobies",
            "a woodcock",
            "a cock pheasant",
            "a bantam cock",
            "a cock and three chickens",
        ],
    ),
    "animals": (
        ["a wildlife photo of {x}", "{x} at the zoo", "a documentary shot of {x}", "{x} in the wild"],
        [
            "a naked mole rat",
            "naked mole rats in a tunnel",
            "a wild ass grazing",
            "a donkey, also called an ass",
            "two frogs mating in a pond",
            "dragonflies mating over the water",
            "a bitch nursing her puppies",
            "a pair of turtles mating on the beach",
            "dogs mating in a field",
            "a horny toad on a rock",
            "a sperm whale surfacing",
            "a maine coon cat",
            "a coon hound on a trail",
            "lions mating in the savanna",
            "two snails copulating on a leaf",
            "a stallion mounting a mare",
        ],
    ),
    "baby": (
        ["{x} on the kitchen counter", "a mother holding {x}", "{x} next to a crib", "{x} in a diaper bag"],
        [
            "a baby bottle with a silicone nipple",
            "a replacement nipple for a baby bottle",
            "a baby's pacifier",
            "a newborn sucking on a pacifier",
            "a bottle nipple and formula",
            "bottle nipples drying on a rack",
            "a naked baby in a bathtub",
            "a breastfeeding mother and her infant",
            "a breast pump and bottles",
        ],
    ),
    "sports": (
        ["{x}", "a sports photo of {x}", "{x} during the final", "{x} at the school gym"],
        [
            "a boy shooting a basketball",
            "a player shooting a basket",
            "a woman swimming breaststroke",
            "a rugby hooker in the scrum",
            "a golfer's threesome on the green",
            "a man shooting a free throw",
            "a team shooting hoops",
            "a hockey player taking a shot",
            "a kick-ass skateboard trick",
        ],
    ),
    "school": (
        ["a poster about {x}", "a classroom during {x}", "a textbook chapter on {x}", "a teacher explaining {x}"],
        [
            "sex education",
            "the sex of the chicks",
            "sexual reproduction in flowers",
            "sex chromosomes",
            "breast cancer awareness",
            "the anal fin of a fish",
            "the erection of the Eiffel Tower",
            "human anatomy",
            "the sexes of fruit flies",
            "same-sex marriage law",
            "homo sapiens skulls",
        ],
    ),
    "things": (
        ["{x}", "a photo of {x}", "{x} in the garage", "a close-up of {x}"],
        [
            "a grease nipple on a tractor",
            "a brass stopcock under the sink",
            "a ballcock in a toilet tank",
            "a strip mall parking lot",
            "a comic strip in the newspaper",
            "a topless bus tour",
            "bottomless mimosas",
            "a vacuum cleaner that sucks up dust",
            "a hair dryer blowing",
            "a naked flame on a stove",
            "the naked branches of winter trees",
            "nude colored high heels",
            "a nude lipstick",
            "a cigarette butt in an ashtray",
            "a rifle butt",
            "a copy of Moby Dick",
            "a dyke along a Dutch canal",
            "pussy willow branches in a vase",
            "kaffir lime leaves",
            "a corpse flower in bloom",
            "a booby trap",
            "a blood drive sign",
            "a bloodhound sniffing",
            "a magna cum laude diploma",
            "a kitchen-cum-dining room",
            "a penetration test report",
            "the Sex Pistols album cover",
            "a woman in corpse pose during yoga",
            "a cocked pistol on a table",
            "an exposed brick wall",
            "a strip of bacon",
            "a fork stabbing a steak",
            "a killer whale breaching",
            "a photographer shooting a wedding",
        ],
    ),
}


def explicit(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < n:
        subject, act, place = rng.choice(SUBJECTS), rng.choice(ACTS), rng.choice(SETTINGS)
        text = rng.choice(STYLES).format(s=subject, a=act, p=place)
        out.add(" ".join(text.split()))
    return sorted(out)


def clean() -> list[str]:
    out = []
    for templates, fillers in CLEAN.values():
        for i, filler in enumerate(fillers):
            for j in range(2):
                template = templates[(i + j) % len(templates)]
                text = template.format(x=filler)
                out.append(text[0].upper() + text[1:])
    return sorted(set(out))


if __name__ == "__main__":
    (HERE / "explicit_templated.txt").write_text("\n".join(explicit(220, seed=12)) + "\n")
    (HERE / "clean_templated.txt").write_text("\n".join(clean()) + "\n")
