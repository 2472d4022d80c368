#!/usr/bin/env python3
"""Round 4 augmentation: short benign requests.

Writes crates/portcullis-guard/data/augment-r4.jsonl. Why: the training split has
almost no very short benign prompts (one to six words), while many short attack
fragments exist, so a short ordinary request such as "audit me" or "list my keys" can
score high, in particular under NB scaling (a withdrawn candidate blocked "audit me").
These rows are ordinary short requests composed from hand-written verbs, objects and
phrasings: commands to an assistant, greetings, follow-ups, chat-ops and account
requests, and short requests that contain words attacks also use ("ignore", "system",
"admin", "password", "rules", "prompt", "override") in their everyday sense.
Every text is written here; no row of any split was copied or paraphrased.

Run: python3 crates/portcullis-guard/data/make_augment_r4.py  (deterministic, seeded).
"""

import json
import random
from pathlib import Path

OUT = Path(__file__).with_name("augment-r4.jsonl")
rng = random.Random(20261126)

GREETINGS = [
    "hello", "hey", "hi there", "good morning", "good evening", "thanks", "thank you",
    "thanks, that helps", "ok", "okay thanks", "cool", "great, thanks!", "yes please",
    "no thanks", "sure", "go on", "continue", "more", "again please", "one more",
    "perfect", "that works", "not quite", "try again", "shorter please", "longer",
    "make it formal", "simpler please", "in bullet points", "as a table", "what?",
    "why?", "how?", "really?", "are you sure?", "can you elaborate?", "example?",
    "bye", "see you", "what are you good at?", "who made you?", "are you there?",
]

VERBS = [
    "summarize", "explain", "translate", "review", "fix", "rewrite", "shorten",
    "proofread", "format", "check", "describe", "simplify", "outline", "list",
    "compare", "sort", "count", "analyze", "debug", "refactor", "document", "test",
    "audit", "scan", "validate", "convert", "clean up", "tidy", "improve", "expand",
]
OBJECTS = [
    "this", "this text", "this log", "this error", "this code", "this function",
    "this email", "the paragraph above", "my notes", "the report", "this table",
    "this query", "my essay", "the contract", "this config", "the diff", "this stack trace",
    "my cv", "the meeting notes", "this json", "this regex", "the invoice", "this sql",
    "my spreadsheet", "the readme", "this paragraph", "these numbers", "my draft",
    "the changelog", "this yaml file", "my resume", "the summary", "this list",
]
ME = [
    "audit me", "quiz me", "test me", "help me", "remind me", "call me later",
    "teach me", "tell me more", "show me", "surprise me", "guide me", "motivate me",
    "walk me through it", "correct me", "email me the summary", "ask me questions",
    "cheer me up", "interview me", "coach me", "challenge me",
]
ACCOUNT = [
    "list my api keys", "rotate my api key", "show my usage", "show my quota",
    "reset my pin", "change my password", "delete my account", "export my data",
    "show my audit log", "show the audit trail", "who has admin access?",
    "add a new admin", "revoke this token", "create a new token", "list my tokens",
    "show my billing", "cancel my subscription", "update my email", "enable 2fa",
    "disable notifications", "show recent logins", "list my projects", "show team members",
    "grant read access to bob", "remove guest access", "list all users", "show system status",
    "check system health", "restart the service", "show the logs", "tail the logs",
    "show error logs", "clear the cache", "show my settings", "open a ticket",
    "what is my rate limit?", "which models can i use?", "show the policy",
    "list the rules", "show firewall rules", "deploy to staging", "roll back the deploy",
    "run the tests", "merge the pr", "approve the request", "show pending approvals",
    "override the default timeout", "bypass the cache for this query", "set admin email",
    "update system prompt for the support bot", "show the system prompt template",
]
EVERYDAY_TRIGGER = [
    "ignore the typo above", "ignore my last message, it was a typo",
    "ignore the warnings, what is the real error?", "ignore case when sorting",
    "ignore whitespace in the diff", "ignore null values", "ignore the header row",
    "forget it", "never mind", "disregard the first draft", "start over",
    "scratch that", "new topic", "reset the conversation", "clear the chat",
    "you can skip the intro", "no need to be formal", "act natural", "be brief",
    "pretend i'm five and explain taxes", "role-play a job interview",
    "play a word game with me", "let's play chess", "tell me a joke",
    "write a haiku", "write a limerick about cats", "what are your rules for formatting?",
    "what instructions do you need from me?", "follow the style guide",
    "use the previous instructions", "repeat that", "say it again slower",
    "print hello world in rust", "print the first 10 primes", "execute the plan",
    "kill the process on port 8080", "how do i kill a zombie process?",
    "how to bypass a paywall legally?", "override a method in java",
    "jailbreak my old iphone?", "unlock my car", "hack together a quick script",
    "developer mode on android", "enable dark mode", "switch to admin view",
    "sudo apt update fails", "root cause of this outage?", "inject a dependency in spring",
    "sql injection: how do i prevent it?", "what is prompt injection?",
    "what is a jailbreak in ai?", "pretend you are a pirate and greet me",
]
TRANSLATE = [
    ("french", "good morning"), ("spanish", "where is the station"), ("german", "thank you very much"),
    ("italian", "see you tomorrow"), ("japanese", "nice to meet you"), ("portuguese", "happy birthday"),
    ("dutch", "the meeting is cancelled"), ("english", "bonjour"), ("english", "danke schön"),
    ("polish", "good night"), ("korean", "how much is it"), ("chinese", "i am hungry"),
]
TEMPLATES = [
    "{v} {o}", "{v} {o} please", "please {v} {o}", "can you {v} {o}?", "{v} {o} for me",
    "could you {v} {o}", "quickly {v} {o}", "{v} {o} in one line", "{v} {o}, thanks",
]
QUESTIONS = [
    "what time is it in tokyo?", "how far is the moon?", "is it going to rain?",
    "what's 17 times 23?", "define entropy", "who wrote hamlet?", "capital of peru?",
    "best pizza dough recipe?", "how do i boil an egg?", "convert 5 miles to km",
    "what is kubernetes?", "rust vs go?", "explain oauth briefly", "what is a jwt?",
    "how do tls certificates work?", "what's a 401 error?", "why is my build slow?",
    "what does chmod 600 do?", "how to undo a git commit?", "regex for an email?",
    "synonym for happy", "meaning of serendipity", "spell necessary", "plural of cactus",
]

rows = []
seen = set()


def add(text, kind):
    t = text.strip()
    if t in seen:
        return
    seen.add(t)
    rows.append({"text": t, "kind": kind})


for t in GREETINGS:
    add(t, "chat")
for t in ME:
    add(t, "me")
for t in ACCOUNT:
    add(t, "ops")
for t in EVERYDAY_TRIGGER:
    add(t, "trigger")
for t in QUESTIONS:
    add(t, "q")
for lang, s in TRANSLATE:
    add(f"translate to {lang}: {s}", "translate")
    add(f"how do you say '{s}' in {lang}?", "translate")
pairs = [(v, o) for v in VERBS for o in OBJECTS]
rng.shuffle(pairs)
for v, o in pairs[:260]:
    add(rng.choice(TEMPLATES).format(v=v, o=o), "verb")

out = []
for i, r in enumerate(rows):
    t = r["text"]
    # Vary the casing the way people type.
    c = rng.random()
    if c < 0.45:
        t = t[0].upper() + t[1:]
    elif c < 0.5:
        t = t.upper()
    out.append({"id": f"augment-r4-{r['kind']}-{i}", "text": t, "label": "benign",
                "source": f"augment-r4-{r['kind']}"})
rng.shuffle(out)
with OUT.open("w", encoding="utf-8") as f:
    for r in out:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(f"{len(out)} rows -> {OUT}")
