"""Distinct stories for the fault tests.

The fault tests are about delivery (nothing lost, nothing doubled), so every article of their feed
must be a story of its own. Ingest clusters stories by meaning (near-duplicate text, then
multilingual embeddings), and template headlines that differ only in a number, or pseudo-words,
all collapse into one story (measured: 400 of them became 1). So each headline is composed from
independent slots of varied, real vocabulary (who, what, where, why, how much), drawn by a seeded
generator: the same count always gives the same feed. Nothing here is presented as news.
"""

from __future__ import annotations

import random

ACTORS = [
    "The port authority of Rotterdam",
    "A Kenyan tea cooperative",
    "Lisbon's city council",
    "A Norwegian salmon farmer",
    "The Chilean copper regulator",
    "A Bavarian brewery",
    "Osaka's largest bakery chain",
    "A Brazilian coffee exporter",
    "The Icelandic weather office",
    "A Welsh rugby club",
    "Quebec's hydro utility",
    "A Moroccan solar developer",
    "The Vienna opera house",
    "A Texan cattle ranch",
    "Singapore's water agency",
    "A Finnish sauna maker",
    "The Peruvian railway operator",
    "A Dutch bicycle cooperative",
    "Nairobi's matatu drivers' union",
    "A Scottish whisky distillery",
    "The Danish ferry company",
    "A Vietnamese rice mill",
    "Portugal's cork growers",
    "A Swiss watch restorer",
    "The Greek olive oil board",
    "A Mongolian cashmere herder group",
    "Tasmania's apple growers",
    "A Polish amber workshop",
    "The Jamaican tourism board",
    "A Turkish carpet weaving school",
    "Montreal's public library",
    "A Sicilian lemon grower",
    "The Nepalese trekking association",
    "An Argentine wine estate",
    "A Korean kimchi factory",
    "The Estonian e-residency office",
]
ACTIONS = [
    "postpones",
    "doubles the budget of",
    "cancels",
    "opens a public consultation on",
    "wins a court case over",
    "signs a ten-year contract for",
    "reports record losses from",
    "asks volunteers to help with",
    "replaces its director of",
    "faces a strike over",
    "publishes an audit of",
    "sells its stake in",
    "rebuilds",
    "insures",
    "triples the price of",
    "receives a heritage award for",
    "halts exports tied to",
    "digitises the archive of",
]
OBJECTS = [
    "its harbour dredging work",
    "the spring harvest",
    "a flood barrier",
    "the night ferry",
    "its oldest warehouse",
    "a mountain hut network",
    "the school lunch programme",
    "its glass recycling plant",
    "a choir festival",
    "the tram depot",
    "its seed bank",
    "a wind-damaged pier",
    "the fishing quota system",
    "its bee-keeping project",
    "a vintage locomotive",
    "the cross-border bus route",
    "its cold-storage hall",
    "the marathon course",
    "a textile museum",
    "its wastewater tunnel",
]
REASONS = [
    "after a month of heavy rain",
    "because insurance costs rose",
    "after complaints from residents",
    "following a fire last winter",
    "as tourists return",
    "after a dispute with suppliers",
    "because the river froze early",
    "after an inspection found cracks",
    "as fuel prices fall",
    "after a change in the local government",
    "because of a shortage of drivers",
    "after a record-breaking summer",
    "while wages are renegotiated",
    "after a cyber attack on its billing",
]
DETAILS = [
    "Local fishermen say the water level is the lowest in forty years.",
    "The mayor promised a referendum before any final vote.",
    "Its accountants found the shortfall during a routine check in March.",
    "A children's choir performed outside the town hall in protest.",
    "Engineers will use drones to map the damage.",
    "The union wants a written guarantee that no jobs are cut.",
    "Historians warn that the building dates from the sixteenth century.",
    "Farmers blame a late frost that destroyed most of the blossoms.",
    "The company's founder, now ninety-one, opposed the plan in a letter.",
    "Ticket holders will be refunded within thirty days.",
    "Environmental groups counted nesting storks on the site.",
    "Rival bids came from two logistics firms and a pension fund.",
    "The old machinery will be donated to a technical college.",
    "Police closed the coastal road for two nights.",
    "A crowdfunding page raised enough money for the first phase.",
    "Customers queued around the block on the last day.",
]
UNITS = ["tonnes", "kilometres", "households", "employees", "visitors", "hectares", "barrels", "tickets"]


def fault_stories(count: int, prefix: str = "fault", seed: int = 2026) -> list[tuple[str, str, str]]:
    """(link, title, description) for ``count`` distinct stories (unique links and headlines)."""
    rng = random.Random(seed)
    seen: set[tuple[int, int, int, int]] = set()
    out: list[tuple[str, str, str]] = []
    while len(out) < count:
        key = (
            rng.randrange(len(ACTORS)),
            rng.randrange(len(ACTIONS)),
            rng.randrange(len(OBJECTS)),
            rng.randrange(len(REASONS)),
        )
        if key in seen:
            continue
        seen.add(key)
        actor, action, obj, reason = ACTORS[key[0]], ACTIONS[key[1]], OBJECTS[key[2]], REASONS[key[3]]
        amount, unit = rng.randint(12, 9800), rng.choice(UNITS)
        index = len(out)
        title = f"{actor} {action} {obj} {reason}"
        details = " ".join(rng.sample(DETAILS, 4))
        # Long enough not to be a teaser: ingest would otherwise try to fetch the (fictional) page.
        lead = f"{title}. {details} It concerns {amount} {unit}."
        out.append((f"https://wire.example.org/{prefix}/{index}", title, lead))
    return out
