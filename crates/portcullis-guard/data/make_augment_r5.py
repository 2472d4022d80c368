#!/usr/bin/env python3
"""Round 5 augmentation: benign requests in jailbreak-like framings.

Writes crates/portcullis-guard/data/augment-r5.jsonl. Why: the benign rows whose
scores sit closest to the threshold are role-play, fiction and research framings
("As a renowned historian...", "Imagine you are a consultant...", "this is purely for
educational purposes") wrapped around an ordinary or protective goal: the framing is
the vocabulary of PAIR-style jailbreaks, the goal is not. Earlier candidates flagged
more of them (wildguardtest-like benign FPR 0.007 -> 0.035-0.042 on test). These rows
pair such framings with benign goals (protective security advice, history, health,
fiction without harm, business and study help), so the heads must learn the goal, not
the framing. Every text is composed here from hand-written parts; no row of any split
was copied or paraphrased.

Run: python3 crates/portcullis-guard/data/make_augment_r5.py  (deterministic, seeded).
"""

import json
import random
from pathlib import Path

OUT = Path(__file__).with_name("augment-r5.jsonl")
rng = random.Random(20261127)

ROLES = [
    "a retired firefighter", "an experienced pharmacist", "a high-school history teacher",
    "a cybersecurity trainer", "a family lawyer", "a travel writer", "a nutritionist",
    "a museum curator", "a veteran detective novelist", "a fraud-prevention officer",
    "a wildlife biologist", "a school counselor", "a locksmith who teaches home safety",
    "a financial literacy coach", "a crisis hotline volunteer", "a data-privacy consultant",
    "a medieval historian", "a screenwriter", "a hospital nurse", "a game designer",
    "a journalism professor", "a social worker", "a chemistry teacher", "a park ranger",
]

FRAMINGS = [
    "As {role}, {goal}",
    "Imagine you are {role}. {goal_cap}",
    "You are {role} preparing a workshop. {goal_cap}",
    "Pretend you are {role} talking to a curious student: {goal}",
    "Let's role-play: you are {role} and I am a new colleague. {goal_cap}",
    "In a novel I am writing, the main character is {role}. In one scene she explains "
    "to her neighbour how to stay safe. {goal_cap}",
    "For a research paper on public safety, act as {role} and {goal}",
    "Picture a world in the year 2040 where you work as {role}. {goal_cap}",
    "I'd like you to take on the persona of {role} for this conversation. {goal_cap}",
    "Write a short scene in which {role} answers a question from a worried parent: {goal}",
    "You are an AI assistant called Sage, modelled on {role}. {goal_cap}",
    "Step into the shoes of {role} giving a talk at a community centre. {goal_cap}",
]

GOALS = [
    "explain how people can recognise phishing emails and what to do after clicking one",
    "describe the warning signs of elder financial abuse and how to report it",
    "explain how counterfeit banknotes are detected by shop staff",
    "list the steps a small business should take after a ransomware infection",
    "explain why mixing bleach and ammonia at home is dangerous and how to clean safely",
    "describe how to store prescription medicines so children cannot reach them",
    "explain how to talk to a teenager about online grooming",
    "describe how historians study the causes of the French Revolution",
    "summarise the main events of the Cuban Missile Crisis for a class",
    "explain how to secure a home Wi-Fi router with a strong password",
    "describe how identity theft usually happens and how to freeze your credit",
    "explain what to do if someone you know is having thoughts of self-harm",
    "write a respectful eulogy for a beloved grandfather",
    "explain how vaccines train the immune system, in simple terms",
    "describe how detectives in crime fiction usually reveal the culprit",
    "explain the history of lock picking as a hobby and its legal limits",
    "describe how poison was used as a plot device in Agatha Christie novels, without giving recipes",
    "explain how to spot a fake online store before buying",
    "describe the dangers of drunk driving in a way that persuades young drivers",
    "explain how to report hate speech on social media platforms",
    "write a tense but non-violent scene where two rivals settle a dispute with a chess game",
    "explain how wildfire evacuation plans are made",
    "describe the ethical debates around facial recognition in public spaces",
    "explain how to recognise and avoid investment scams promising guaranteed returns",
    "describe how penetration testers get written permission before testing a client network",
    "explain how to help a friend who has been scammed out of money",
    "write a villain's monologue for a children's fantasy play that is spooky but not cruel",
    "explain how the immune system reacts to snake venom and why antivenom works",
    "describe how propaganda worked in the Second World War so students can recognise it today",
    "explain the health risks of extreme dieting and healthier alternatives",
    "describe how companies protect customer data under the GDPR",
    "explain how to safely dispose of old batteries and electronics",
    "describe the symptoms of carbon monoxide poisoning and how detectors prevent it",
    "explain how to handle a stalker situation safely and legally",
    "describe how moderators decide whether a post is harassment",
    "explain the psychology of why people fall for conspiracy theories and how to talk with them",
    "write a short mystery story where the thief is caught by a clever shopkeeper",
    "describe how banks detect money laundering, at a level suitable for a newspaper article",
    "explain how parents can set up parental controls on a tablet",
    "describe the history of the Prohibition era and why it ended",
    "explain why people with curly hair are not worse at mathematics, debunking the myth",
    "describe why left-handed people can of course become pilots",
    "explain how to negotiate a fair salary without misleading the employer",
    "describe strategies for managing stress during exam season",
    "explain how whistleblower protections work for employees who report fraud",
    "describe how to check whether a news photo has been manipulated",
]

TAILS = [
    "",
    "",
    " Please keep it practical and kind.",
    " This is for an educational handout, so keep it accurate.",
    " Keep it under 300 words.",
    " Everything should stay within ethical and legal bounds.",
    " This is purely for a creative writing class.",
    " Please include three concrete examples.",
    " Make it engaging for a general audience.",
    " I will share it with my community group.",
]

ASKS = [
    "How do I {v} without {h}?",
    "What is the best way to {v}?",
    "Why can't {who} {cant}?",
    "Where can I find resources about {topic}?",
    "Can you share some inspiring stories about {topic}?",
    "How can we address {topic} in our school?",
]
VERBS = [
    ("kill weeds in my lawn", "harming my vegetables"),
    ("shoot a great photo at night", "a tripod"),
    ("break the ice at a networking event", "sounding awkward"),
    ("attack a difficult chess opening", "losing my queen"),
    ("blow up a photo to poster size", "losing quality"),
    ("crush my sales targets this quarter", "burning out"),
    ("eliminate clutter in my garage", "throwing away memories"),
    ("steal the show at my sister's wedding speech", "embarrassing her"),
    ("smash my personal record in a 10k run", "getting injured"),
    ("hijack my own attention back from my phone", "deleting every app"),
    ("exploit my strengths in a job interview", "sounding arrogant"),
    ("bypass the queue at a theme park legally", "paying too much"),
]
WHO = [
    ("tall people", "breathe underwater"), ("people born in winter", "fly unaided"),
    ("vegetarians", "read minds"), ("people with freckles", "teleport"),
    ("left-handed people", "stop time"), ("people who wear glasses", "become invisible"),
]
TOPICS = [
    "the harmful effects of stereotypes on mental health", "the history of civil rights movements",
    "overcoming addiction", "cyberbullying prevention", "supporting refugees in our town",
    "the dangers of online misinformation", "women in computer security",
    "recognising domestic violence", "the history of cryptography",
]


def framed():
    role = rng.choice(ROLES)
    goal = rng.choice(GOALS)
    frame = rng.choice(FRAMINGS)
    text = frame.format(role=role, goal=goal + ".", goal_cap=goal[0].upper() + goal[1:] + ".")
    return text + rng.choice(TAILS)


def ask():
    a = rng.choice(ASKS)
    v, h = rng.choice(VERBS)
    who, cant = rng.choice(WHO)
    return a.format(v=v, h=h, who=who, cant=cant, topic=rng.choice(TOPICS))


def main():
    seen = set()
    rows = []
    while len(rows) < 250:
        t = framed() if len(rows) < 200 else ask()
        if t in seen:
            continue
        seen.add(t)
        rows.append(t)
    with OUT.open("w", encoding="utf-8") as f:
        for i, t in enumerate(rows):
            o = {"id": f"aug5-{i}", "text": t, "label": "benign", "source": "augment-r5"}
            f.write(json.dumps(o, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {OUT}")


if __name__ == "__main__":
    main()
