"""The demo workspace: a coffee brand's month of posts in every status.

``almanac demo`` loads "Northwind Coffee" (slug ``demo``) so that a fresh install
shows a full calendar at once: users in every role, labels, a month plan and a
quarter plan, a connected sandbox channel, demo channels on real networks, and
about forty posts across every workflow status with deliveries in every delivery
status (except ``sending``, which needs a live scheduler's lease).

Real-network demo channels never publish: they have no credentials and status
``expired``, so their deliveries wait (and, past the lateness limit, show as
missed). Only the sandbox channel, which writes into the local outbox, is
connected.

The content is deterministic given ``today``; times are chosen relative to "now"
(noon in Paris on ``today`` when ``today`` is given, the real clock otherwise),
so that past slots carry outcomes and future slots wait as ``pending``.
"""

from __future__ import annotations

import calendar
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crypto import CredentialBox
from app.db import Database
from app.models import (
    Channel,
    ChannelStatus,
    Delivery,
    DeliveryStatus,
    Label,
    Membership,
    Plan,
    PlanKind,
    Post,
    PostStatus,
    Role,
    SandboxPost,
    User,
    Variant,
    Workspace,
)
from app.models.delivery import new_idempotency_key
from app.networks.base import Network
from app.posts.content import content_hash, effective_content
from app.settings import Settings
from app.timeutil import LocalTimeError, to_local, to_utc
from app.users.service import hash_password

DEMO_SLUG = "demo"
DEMO_NAME = "Northwind Coffee"
DEMO_TIMEZONE = "Europe/Paris"
DEMO_EMAIL = "demo@almanac.local"
DEMO_PASSWORD = "demo-password"
DEMO_CHANNEL_MESSAGE = "Demo channel: connect a real account to publish"
LATENESS_MINUTES = 60

# (email, display name, role, author of posts?)
_USERS: tuple[tuple[str, str, Role], ...] = (
    (DEMO_EMAIL, "Dana Demo", Role.owner),
    ("demo-editor@almanac.local", "Eli Editor", Role.editor),
    ("demo-reviewer@almanac.local", "Rosa Reviewer", Role.reviewer),
    ("demo-viewer@almanac.local", "Vic Viewer", Role.viewer),
)
DEMO_EMAILS = tuple(email for email, _, _ in _USERS)

_LABELS: tuple[tuple[str, str, int], ...] = (
    # name, colour, share of the month's mix (percent)
    ("Product", "#b45309", 30),
    ("Community", "#2563eb", 25),
    ("Behind the scenes", "#7c3aed", 20),
    ("Promotion", "#dc2626", 15),
    ("Sustainability", "#16a34a", 10),
)

# key -> (network, name, account handle, limits)
_CHANNELS: tuple[tuple[str, Network, str, str, dict[str, Any]], ...] = (
    ("sandbox", Network.sandbox, "Sandbox outbox", "northwind-sandbox", {}),
    (
        "mastodon",
        Network.mastodon,
        "Mastodon (demo)",
        "@northwind@mastodon.example",
        {"max_characters": 500},
    ),
    ("bluesky", Network.bluesky, "Bluesky (demo)", "northwind.example", {}),
    ("x", Network.x, "X (demo)", "@northwind_demo", {}),
    ("linkedin", Network.linkedin, "LinkedIn page (demo)", "Northwind Coffee (demo)", {}),
    ("instagram", Network.instagram, "Instagram (demo)", "@northwind.demo", {}),
)

_CADENCE = {"sandbox": 3, "mastodon": 4, "bluesky": 3, "x": 3, "linkedin": 2, "instagram": 3}

_WEEK_THEMES = (
    "Meet the farmers",
    "Brew better at home",
    "Regulars and their rituals",
    "From green bean to roast",
    "Seasonal menu",
    "Less waste, better cups",
)
_QUARTER_THEMES = ("Origins", "Craft", "Community")

# Wall times at which the demo team posts (no DST transition happens at these hours).
_SLOT_TIMES = tuple(
    time(h, m)
    for h, m in (
        (8, 30),
        (9, 15),
        (10, 0),
        (11, 30),
        (12, 45),
        (14, 0),
        (15, 30),
        (17, 0),
        (18, 15),
        (19, 30),
    )
)
_PIPELINE = {
    PostStatus.approved: 0.0,
    PostStatus.in_review: 1.0,
    PostStatus.changes_requested: 1.5,
    PostStatus.draft: 2.0,
    PostStatus.idea: 3.0,
}
_EARLIEST, _LATEST = time(8, 0), time(21, 0)
_MARGIN = timedelta(minutes=30)

_DEFAULT_TAGS = "#northwindcoffee #specialtycoffee #coffeelover"


# -- the summary ----------------------------------------------------------------


@dataclass
class DemoSummary:
    workspace_name: str
    workspace_slug: str
    created: bool
    users: int
    channels: int
    plans: int
    labels: int
    posts: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)
    email: str = DEMO_EMAIL
    password: str = DEMO_PASSWORD

    @property
    def total_posts(self) -> int:
        return sum(self.posts.values())

    @property
    def total_deliveries(self) -> int:
        return sum(self.deliveries.values())

    def lines(self) -> list[str]:
        """What ``almanac demo`` prints (plain text: no markup)."""
        posts = ", ".join(
            f"{count} {status.replace('_', ' ')}" for status, count in self.posts.items() if count
        )
        deliveries = ", ".join(
            f"{count} {status}" for status, count in self.deliveries.items() if count
        )
        where = f"'{self.workspace_name}' (slug {self.workspace_slug})"
        if self.created:
            head = f"Loaded demo workspace {where}: {self.total_posts} posts — {posts}."
        else:
            head = (
                f"Demo workspace {where} already exists; nothing changed "
                "(use --reset to delete and recreate it). "
                f"It has {self.total_posts} posts — {posts}."
            )
        return [
            head,
            f"Deliveries: {self.total_deliveries} — {deliveries or 'none'}.",
            f"{self.users} members, {self.channels} channels, {self.plans} plans, "
            f"{self.labels} labels. Only the sandbox channel publishes (into the local "
            "outbox); the other demo channels need a real account.",
            f"Sign in as {self.email} with the password {self.password}",
        ]


# -- the posts --------------------------------------------------------------------

_PAST, _RECENT, _FUTURE, _UNDATED = "past", "recent", "future", "undated"

# Outcomes per channel of a scheduled post; anything not listed follows the timing.
_PUBLISHED = DeliveryStatus.published
_PENDING = DeliveryStatus.pending
_OUTCOMES_ONLY_PAST = {
    DeliveryStatus.published,
    DeliveryStatus.failed,
    DeliveryStatus.missed,
    DeliveryStatus.removed,
    DeliveryStatus.uncertain,
    DeliveryStatus.retrying,
}


@dataclass(frozen=True)
class _Spec:
    title: str
    body: str
    labels: tuple[str, ...]
    status: PostStatus
    when: str
    channels: tuple[str, ...]
    short: str | None = None  # own copy for X and Bluesky
    tags: str | None = None  # hashtags for Instagram
    link: str | None = None
    # Deliveries: None = not scheduled; else the outcome per channel key
    # (channels not named get the default for the slot: published or pending).
    deliveries: dict[str, DeliveryStatus] | None = None
    # (channel key, the text before the edit) for the "edited after approval" case.
    edited: tuple[str, str] | None = None
    by_editor: bool = False


def _specs() -> list[_Spec]:
    idea, draft, review = PostStatus.idea, PostStatus.draft, PostStatus.in_review
    changes, approved = PostStatus.changes_requested, PostStatus.approved
    s = _Spec
    return [
        # ---- ideas (backlog, no date) ----
        s(
            "Idea: latte art throwdown",
            "Baristas from three neighbourhood cafés, one milk jug each, ten minutes on the "
            "clock. Who pours the best tulip? Come cheer on Saturday afternoon.",
            ("Community",),
            idea,
            _UNDATED,
            ("sandbox", "instagram"),
        ),
        s(
            "Idea: ask a roaster anything",
            "Our head roaster Malik answers your questions live: roast curves, storage, "
            "why your espresso tastes sour. Drop your questions below.",
            ("Behind the scenes", "Community"),
            idea,
            _UNDATED,
            ("sandbox", "mastodon"),
            by_editor=True,
        ),
        s(
            "Idea: grinder settings cheat sheet",
            "One chart, every brew method: from Turkish to cold brew, the grind size that "
            "works with our beans. Save it, print it, stick it on the fridge.",
            ("Product",),
            idea,
            _UNDATED,
            ("sandbox",),
        ),
        s(
            "Idea: compostable pods explained",
            "What happens to a compostable pod after the bin? We followed ours to the "
            "industrial composter and filmed the whole trip.",
            ("Sustainability",),
            idea,
            _UNDATED,
            ("sandbox", "linkedin"),
        ),
        s(
            "Idea: regulars' portraits series",
            "A photo series of the people who make our cafés what they are, one regular a "
            "week, with their order and their story.",
            ("Community",),
            idea,
            _UNDATED,
            ("sandbox", "instagram", "mastodon"),
            by_editor=True,
        ),
        s(
            "Idea: loyalty card goes digital",
            "Ten stamps, one free drink, now in your phone's wallet. Paper cards still work "
            "until the end of the year.",
            ("Promotion", "Product"),
            idea,
            _UNDATED,
            ("sandbox",),
        ),
        # ---- published and the rest of the past ----
        s(
            "New roast: Huila washed",
            "Our new single origin is here: a washed Colombian from Huila with notes of red "
            "apple, panela and milk chocolate. Roasted on Tuesday, in all our cafés today.",
            ("Product",),
            approved,
            _PAST,
            ("sandbox", "mastodon", "bluesky"),
            short="New single origin: washed Colombian from Huila. Red apple, panela, milk "
            "chocolate. In all our cafés today. ☕",
            link="https://northwind.example/coffee/huila",
            deliveries={},
        ),
        s(
            "Meet the farmer: Ana Lucía",
            "Ana Lucía Rojas grows the beans of our Huila lot on four hectares at 1,750 m. "
            "We visited her farm last harvest: here is what she told us about shade trees, "
            "patience and the price of good coffee.",
            ("Behind the scenes", "Sustainability"),
            approved,
            _PAST,
            ("sandbox", "mastodon"),
            link="https://northwind.example/stories/ana-lucia",
            deliveries={},
        ),
        s(
            "Brew guide: V60 in four steps",
            "15 g of coffee, 250 g of water at 94 °C, a 45-second bloom, a slow spiral pour. "
            "Our V60 recipe fits on a sticky note, and it works with every bean we sell.",
            ("Product", "Community"),
            approved,
            _PAST,
            ("sandbox", "bluesky"),
            short="V60 on a sticky note: 15 g coffee, 250 g water at 94 °C, 45 s bloom, "
            "slow spiral pour. Works with every bean we sell.",
            deliveries={},
            by_editor=True,
        ),
        s(
            "Thank you, 10,000 followers",
            "Ten thousand of you follow our little roastery. Thank you for every photo, "
            "every question and every flat white. Your next filter coffee is on us this week.",
            ("Community", "Promotion"),
            approved,
            _PAST,
            ("sandbox", "mastodon", "bluesky"),
            short="10,000 of you! Thank you for every photo and every flat white. Your next "
            "filter coffee is on us this week.",
            deliveries={},
        ),
        s(
            "Open mic night at the Canal café",
            "Open mic at the Canal café on Thursday from 7 pm: poems, songs, bad jokes "
            "welcome. Sign up at the counter, decaf is half price after 6.",
            ("Community",),
            approved,
            _PAST,
            ("sandbox",),
            deliveries={},
            by_editor=True,
        ),
        s(
            "Cold brew is back",
            "Eighteen hours of patience, zero bitterness. Our cold brew is back on tap in "
            "every café, and in 1-litre bottles to take home.",
            ("Product", "Promotion"),
            approved,
            _PAST,
            ("sandbox", "x"),
            short="18 hours of patience, zero bitterness: cold brew is back on tap, and in "
            "1-litre bottles to take home.",
            deliveries={"x": DeliveryStatus.failed},
        ),
        s(
            "We are hiring baristas",
            "Northwind is hiring two baristas for the new Riverside café: full training, "
            "fair pay, free coffee for life (almost). Tell a friend who loves mornings.",
            ("Behind the scenes",),
            approved,
            _PAST,
            ("sandbox", "mastodon", "linkedin"),
            link="https://northwind.example/jobs",
            deliveries={"linkedin": DeliveryStatus.missed},
        ),
        s(
            "Weekend pastry box",
            "Cardamom buns, almond croissants, one dark chocolate cookie: the weekend pastry "
            "box is back, 12 € for four, while it lasts.",
            ("Promotion",),
            approved,
            _PAST,
            ("sandbox", "mastodon"),
            deliveries={"sandbox": DeliveryStatus.removed, "mastodon": DeliveryStatus.removed},
        ),
        s(
            "Roastery tour photos",
            "A morning at the roastery: green sacks from Huila and Sidamo, the 15-kilo "
            "roaster warming up, and the cupping table where every batch gets tasted.",
            ("Behind the scenes",),
            approved,
            _PAST,
            ("sandbox", "instagram"),
            tags="#roastery #behindthescenes #northwindcoffee #coffeeroasting",
            deliveries={"instagram": DeliveryStatus.failed},
            by_editor=True,
        ),
        s(
            "Refill Tuesday",
            "Bring your own cup or jar every Tuesday: 30 cents off any drink, 10% off beans "
            "in your own container. Less waste, same coffee.",
            ("Sustainability", "Promotion"),
            approved,
            _PAST,
            ("sandbox", "x"),
            short="Refill Tuesday: bring your own cup for 30 cents off, your own jar for 10% "
            "off beans. Less waste, same coffee.",
            deliveries={"x": DeliveryStatus.uncertain},
        ),
        s(
            "Espresso masterclass recap",
            "Twelve of you joined Saturday's espresso masterclass: dialling in, milk "
            "texture, cleaning the machine (the part nobody films). Next session in three "
            "weeks, sign-ups open.",
            ("Community",),
            approved,
            _RECENT,
            ("sandbox",),
            deliveries={"sandbox": DeliveryStatus.retrying},
        ),
        s(
            "Decaf that tastes like coffee",
            "Our Swiss Water decaf from Peru keeps the caramel and loses the caffeine. Late "
            "afternoon flat white, no regrets.",
            ("Product",),
            draft,
            _PAST,
            ("sandbox", "bluesky"),
            short="Swiss Water decaf from Peru: caramel yes, caffeine no. Late-afternoon flat "
            "white, no regrets.",
        ),
        # ---- scheduled, waiting for their time ----
        s(
            "New roast: Sidamo natural",
            "Blueberry, jasmine, a long sweet finish: our natural Ethiopian from Sidamo "
            "lands in the cafés this week. Try it as a filter first.",
            ("Product",),
            approved,
            _FUTURE,
            ("sandbox", "mastodon", "bluesky", "x"),
            short="Blueberry, jasmine, a long sweet finish: natural Sidamo lands this week. "
            "Try it as a filter first.",
            link="https://northwind.example/coffee/sidamo",
            deliveries={},
        ),
        s(
            "Our yearly impact report",
            "We paid an average of 2.4 times the Fairtrade minimum for our green coffee last "
            "year, cut our roastery's gas use by 18% and composted 6 tonnes of grounds. The "
            "full report, with what we still get wrong, is online.",
            ("Sustainability",),
            approved,
            _FUTURE,
            ("sandbox", "linkedin"),
            link="https://northwind.example/impact",
            deliveries={},
        ),
        s(
            "Pour-over workshop",
            "Learn pour-over with our baristas: V60, Kalita and Chemex side by side, 90 "
            "minutes, 25 € with a bag of beans to take home. Eight places per session.",
            ("Community", "Promotion"),
            approved,
            _FUTURE,
            ("sandbox", "instagram", "mastodon"),
            tags="#pourover #brewguide #northwindcoffee #coffeeworkshop",
            link="https://northwind.example/workshops",
            deliveries={},
            by_editor=True,
        ),
        s(
            "Why we roast light",
            "Light roasts keep what makes each farm different: fruit, flowers, acidity. Dark "
            "roasts taste of the roast. That is the whole philosophy, in two sentences.",
            ("Behind the scenes", "Product"),
            approved,
            _FUTURE,
            ("sandbox", "bluesky"),
            deliveries={},
        ),
        s(
            "Riverside café opening",
            "Our fourth café opens on Riverside Street on Saturday at 8 am. First 100 "
            "customers get a free cortado and a tote bag. See you there!",
            ("Promotion", "Community"),
            approved,
            _FUTURE,
            ("sandbox", "x", "linkedin"),
            short="Café number four opens Saturday 8 am on Riverside Street. First 100 "
            "customers: free cortado + tote bag.",
            link="https://northwind.example/riverside",
            deliveries={},
        ),
        s(
            "Barista tip: purge the steam wand",
            "Barista tip of the week: purge the steam wand before and after every milk. "
            "Two seconds, better milk, a machine that lasts.",
            ("Product", "Community"),
            approved,
            _FUTURE,
            ("sandbox", "mastodon"),
            deliveries={},
            by_editor=True,
        ),
        # ---- in review ----
        s(
            "Gift boxes are back",
            "Three coffees, one hand-thrown mug from a local potter, a brewing card: our gift "
            "box ships anywhere in the country in two days. Order by Thursday for delivery "
            "before the weekend.",
            ("Promotion", "Product"),
            review,
            _FUTURE,
            ("sandbox", "mastodon", "x"),
            short="Gift box: three coffees + a hand-thrown mug from a local potter. Ships in "
            "two days: order by Thursday, sip by the weekend.",
            link="https://northwind.example/gifts",
            deliveries={},
            edited=(
                "x",
                "Gift box: three coffees + a handmade mug. Ships in two days, order by "
                "Friday for the weekend.",
            ),
        ),
        s(
            "Cupping session for regulars",
            "Regulars, this one is for you: a free cupping at the roastery next Sunday, six "
            "coffees, one spoon, no wrong answers.",
            ("Community",),
            review,
            _FUTURE,
            ("sandbox", "mastodon"),
            by_editor=True,
        ),
        s(
            "Oat milk, no surcharge",
            "From Monday, oat milk costs the same as dairy in every Northwind café. It should "
            "never have cost more.",
            ("Promotion", "Sustainability"),
            review,
            _FUTURE,
            ("sandbox", "bluesky", "x"),
            short="From Monday: oat milk costs the same as dairy in every Northwind café. It "
            "should never have cost more.",
        ),
        s(
            "The roaster's playlist",
            "What do you listen to while roasting 15 kilos at 210 °C? Malik made us a "
            "playlist. Warning: a lot of 70s funk.",
            ("Behind the scenes",),
            review,
            _FUTURE,
            ("sandbox",),
            by_editor=True,
        ),
        s(
            "Coffee and chocolate pairing",
            "Sidamo with 70% Madagascar, Huila with milk praline, decaf with sea salt caramel. "
            "Our pastry chef paired every coffee on the menu.",
            ("Product",),
            review,
            _FUTURE,
            ("sandbox", "instagram"),
            tags="#coffeepairing #chocolate #northwindcoffee",
        ),
        s(
            "Behind the counter: 6 am",
            "What happens at the Canal café between 6 and 7 am: grinder calibration, pastry "
            "delivery, the first espresso of the day (always for the team).",
            ("Behind the scenes",),
            review,
            _FUTURE,
            ("sandbox", "mastodon", "bluesky"),
        ),
        # ---- changes requested ----
        s(
            "Flash sale on beans",
            "FLASH SALE!!! 40% off ALL beans today only!!! Don't miss it!!!",
            ("Promotion",),
            changes,
            _FUTURE,
            ("sandbox", "x"),
            by_editor=True,
        ),
        s(
            "Coffee myths, busted",
            "Myth 1: dark roast has more caffeine. Myth 2: you should store beans in the "
            "freezer. Myth 3: espresso is a type of bean. We bust all three.",
            ("Product", "Community"),
            changes,
            _FUTURE,
            ("sandbox", "bluesky"),
        ),
        s(
            "Partner spotlight: Rue Bakery",
            "Every croissant in our cafés comes from Rue Bakery, three streets away, baked at "
            "4 am. Meet Jeanne and her sourdough starter, Gérard.",
            ("Community", "Behind the scenes"),
            changes,
            _FUTURE,
            ("sandbox", "instagram", "linkedin"),
            tags="#localbakery #croissant #northwindcoffee",
            by_editor=True,
        ),
        s(
            "Price change note",
            "Green coffee prices went up 30% this year. From next month a filter coffee costs "
            "20 cents more. Here is where every cent of your cup goes.",
            ("Sustainability",),
            changes,
            _FUTURE,
            ("sandbox", "mastodon"),
            link="https://northwind.example/prices",
        ),
        # ---- drafts ----
        s(
            "Unscheduled: new menu teaser",
            "Something floral is coming to the menu. That is all we can say (for now).",
            ("Product", "Promotion"),
            draft,
            _FUTURE,
            ("sandbox", "mastodon"),
            deliveries={"sandbox": DeliveryStatus.canceled, "mastodon": DeliveryStatus.canceled},
        ),
        s(
            "Cascara: the coffee cherry tea",
            "Cascara is the dried skin of the coffee cherry, usually thrown away. Brewed like "
            "tea it tastes of hibiscus and dried apricot. Try it iced.",
            ("Product", "Sustainability"),
            draft,
            _FUTURE,
            ("sandbox", "bluesky"),
            by_editor=True,
        ),
        s(
            "Meet the team: Sam, head barista",
            "Sam has pulled about 200,000 espressos at Northwind. Favourite drink: a "
            "cortado. Least favourite: anything with pumpkin spice.",
            ("Behind the scenes", "Community"),
            draft,
            _FUTURE,
            ("sandbox", "instagram"),
            tags="#meettheteam #barista #northwindcoffee",
        ),
        s(
            "Home espresso setup under 400 €",
            "You do not need a 3,000 € machine. Our baristas' picks for a home espresso setup "
            "under 400 €, grinder included.",
            ("Product",),
            draft,
            _FUTURE,
            ("sandbox", "mastodon", "x"),
            short="Home espresso under 400 €, grinder included: our baristas' picks.",
            by_editor=True,
        ),
        s(
            "Quiz: which roast are you?",
            "Five questions, one roast that matches your mornings. Share your result and tag "
            "a friend who is obviously a dark roast.",
            ("Community", "Promotion"),
            draft,
            _FUTURE,
            ("sandbox", "bluesky", "instagram"),
        ),
        s(
            "Composting our grounds",
            "Six tonnes of coffee grounds a year go to Les Jardins du Canal, a community "
            "garden. Their tomatoes are excellent.",
            ("Sustainability", "Community"),
            draft,
            _FUTURE,
            ("sandbox", "linkedin"),
            by_editor=True,
        ),
        s(
            "Subscription: beans every two weeks",
            "Freshly roasted beans at your door every two weeks, free shipping, pause any "
            "time. First bag half price.",
            ("Promotion", "Product"),
            draft,
            _FUTURE,
            ("sandbox", "mastodon"),
            link="https://northwind.example/subscribe",
        ),
        s(
            "Water matters",
            "Coffee is 98% water. If yours tastes flat, try a filtered or bottled water low "
            "in minerals before blaming the beans.",
            ("Product",),
            draft,
            _FUTURE,
            ("sandbox", "x"),
        ),
    ]


# -- time slots -------------------------------------------------------------------


def _month_bounds(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    last = day.replace(day=calendar.monthrange(day.year, day.month)[1])
    return first, last


def _quarter_bounds(day: date) -> tuple[date, date, int]:
    quarter = (day.month - 1) // 3 + 1
    first = date(day.year, 3 * quarter - 2, 1)
    return first, _month_bounds(date(day.year, 3 * quarter, 1))[1], quarter


def _iso_weeks(first: date, last: date) -> list[str]:
    weeks: list[str] = []
    day = first
    while day <= last:
        year, week, _ = day.isocalendar()
        label = f"{year}-W{week:02d}"
        if label not in weeks:
            weeks.append(label)
        day += timedelta(days=1)
    return weeks


def _quarter_themes(first: date, last: date) -> list[dict[str, str]]:
    """One theme per month of the quarter, written on each ISO week (by its Thursday)."""
    themes = []
    for week in _iso_weeks(first, last):
        thursday = date.fromisoformat(f"{week}-4")
        month = min(max(thursday, first), last).month
        themes.append({"week": week, "theme": _QUARTER_THEMES[(month - 1) % 3]})
    return themes


@dataclass(frozen=True, order=True)
class _Slot:
    due_at: datetime
    local_at: datetime


def _slot(local: datetime) -> _Slot | None:
    try:
        return _Slot(to_utc(local, DEMO_TIMEZONE), local)
    except LocalTimeError:
        return None


def _month_slots(first: date, last: date) -> list[_Slot]:
    slots = []
    day = first
    while day <= last:
        for at in _SLOT_TIMES:
            slot = _slot(datetime.combine(day, at))
            if slot is not None:
                slots.append(slot)
        day += timedelta(days=1)
    return sorted(slots)


def _spread(slots: Sequence[_Slot], count: int, rng: random.Random) -> list[_Slot]:
    """``count`` slots spread evenly over ``slots`` (in time order), with some jitter."""
    if count == 0 or not slots:
        return []
    step = len(slots) / count
    chosen = []
    for index in range(count):
        jitter = rng.uniform(-step / 3, step / 3) if step > 1.5 else 0
        position = min(len(slots) - 1, max(0, int((index + 0.5) * step + jitter)))
        chosen.append(slots[position])
    return sorted(chosen)


def _recent_slot(now: datetime, first: date, last: date) -> _Slot | None:
    """A slot about a quarter of an hour ago (for a delivery being retried)."""
    local = to_local(now, DEMO_TIMEZONE).replace(tzinfo=None, second=0, microsecond=0)
    local = local.replace(minute=local.minute - local.minute % 5) - timedelta(minutes=15)
    if not (first <= local.date() <= last and _EARLIEST <= local.time() <= _LATEST):
        return None
    return _slot(local)


def _place(
    specs: list[_Spec], now: datetime, first: date, last: date, rng: random.Random
) -> dict[int, _Slot]:
    """The slot of every dated spec, by its index: past specs before now, future after.

    When the month leaves no room on one side (``today`` is its first or last day),
    specs overflow onto the other side; the outcomes then follow the slot's side.
    """
    grid = _month_slots(first, last)
    recent = _recent_slot(now, first, last)
    past_slots = [slot for slot in grid if slot.due_at < now - _MARGIN]
    future_slots = [slot for slot in grid if slot.due_at > now + _MARGIN]
    past = [i for i, spec in enumerate(specs) if spec.when == _PAST]
    rng.shuffle(past)
    recents = [i for i, spec in enumerate(specs) if spec.when == _RECENT]
    # The pipeline: approved posts come first, drafts later, with some mixing.
    future = sorted(
        (i for i, spec in enumerate(specs) if spec.when == _FUTURE),
        key=lambda i: _PIPELINE[specs[i].status] + rng.uniform(0, 2.5),
    )
    placed: dict[int, _Slot] = {}
    if recent is not None:
        placed.update((i, recent) for i in recents)
    else:
        past += recents
    if not past_slots:
        future, past = past + future, []
    if not future_slots:
        past, future = past + future, []
    for indexes, slots in ((past, past_slots), (future, future_slots)):
        placed.update(zip(indexes, _spread(slots, len(indexes), rng), strict=True))
    return placed


# -- building ---------------------------------------------------------------------


def _variant_text(spec: _Spec, network: Network) -> str | None:
    if network in (Network.x, Network.bluesky):
        return spec.short
    if network is Network.instagram:
        return f"{spec.body}\n\n{spec.tags or _DEFAULT_TAGS}"
    return None  # the base copy


def _hash(post: Post, text: str | None) -> str:
    return content_hash(
        effective_content(
            base_text=post.body,
            base_media=post.media,
            base_link=post.link,
            text=text,
            media=None,
            link=None,
        )
    )


def _external(network: Network, settings: Settings, rng: random.Random) -> tuple[str, str]:
    """A plausible id and URL on a demo account (example domains only)."""
    if network is Network.mastodon:
        status_id = str(rng.randrange(10**17, 10**18))
        return status_id, f"https://mastodon.example/@northwind/{status_id}"
    if network is Network.bluesky:
        rkey = "3l" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(11))
        return (
            f"at://did:plc:northwinddemo/app.bsky.feed.post/{rkey}",
            f"https://bsky.app/profile/northwind.example/post/{rkey}",
        )
    post_id = str(rng.randrange(10**17, 10**18))
    return post_id, f"{settings.base_url}/demo/{network.value}/{post_id}"


_NETWORK_NAMES = {
    Network.mastodon: "Mastodon",
    Network.bluesky: "Bluesky",
    Network.x: "X",
    Network.linkedin: "LinkedIn",
    Network.instagram: "Instagram",
}

_FAILURES = {
    Network.x: (
        1,
        "X refused the post (403 Forbidden): You are not allowed to create a Tweet with "
        "duplicate content.",
    ),
    Network.instagram: (
        1,
        "Instagram refused the post (400, error 9004): Only photo or video can be accepted "
        "as media type.",
    ),
}
_DEFAULT_FAILURE = (5, "The network did not answer in time (read timeout); gave up after 5 tries.")


def _delivery(
    *,
    workspace: Workspace,
    post: Post,
    variant: Variant,
    channel: Channel,
    outcome: DeliveryStatus,
    now: datetime,
    settings: Settings,
    rng: random.Random,
    outbox: list[SandboxPost],
) -> Delivery:
    assert post.due_at is not None
    due_at = post.due_at
    is_past = due_at < now
    if is_past and outcome is DeliveryStatus.pending:
        outcome = DeliveryStatus.published
    elif not is_past and outcome in _OUTCOMES_ONLY_PAST:
        outcome = DeliveryStatus.pending
    delivery = Delivery(
        id=uuid.uuid4(),
        workspace_id=workspace.id,
        post_id=post.id,
        variant_id=variant.id,
        channel_id=channel.id,
        status=outcome,
        due_at=due_at,
        next_attempt_at=due_at,
        attempts=0,
        checkpoint={},
        idempotency_key=new_idempotency_key(),
    )
    network = channel.network
    if outcome in (DeliveryStatus.published, DeliveryStatus.removed):
        delivery.attempts = 1
        delivery.published_at = due_at + timedelta(seconds=rng.randint(2, 40))
        delivery.published_content_hash = variant.content_hash
        if network is Network.sandbox:
            entry = SandboxPost(
                id=uuid.uuid4(),
                channel_id=channel.id,
                idempotency_key=delivery.idempotency_key,
                text=post.body if variant.text is None else variant.text,
                media=[],
                link=post.link,
                published_at=delivery.published_at,
            )
            if outcome is DeliveryStatus.removed:
                entry.removed_at = delivery.published_at + timedelta(minutes=rng.randint(20, 90))
            outbox.append(entry)
            delivery.external_id = str(entry.id)
            delivery.external_url = f"{settings.base_url}/sandbox/posts/{entry.id}"
        else:
            delivery.external_id, delivery.external_url = _external(network, settings, rng)
    elif outcome is DeliveryStatus.failed:
        delivery.attempts, delivery.last_error = _FAILURES.get(network, _DEFAULT_FAILURE)
    elif outcome is DeliveryStatus.missed:
        delivery.last_error = (
            f"Not sent within {workspace.lateness_limit_minutes} minutes of its time: "
            f"the {channel.name} channel needs to be reconnected."
        )
    elif outcome is DeliveryStatus.uncertain:
        delivery.attempts = 1
        delivery.last_error = (
            f"The scheduler stopped while sending to {_NETWORK_NAMES.get(network, network)}, "
            "which cannot tell whether the post went out. Check the account, then retry "
            "or mark it as published."
        )
    elif outcome is DeliveryStatus.retrying:
        delivery.attempts = 2
        delivery.next_attempt_at = now + timedelta(minutes=3)
        delivery.last_error = "sandbox: simulated server error (503); next try in 3 minutes."
    return delivery


async def _counts(session: AsyncSession, workspace: Workspace) -> DemoSummary:
    async def count(model: Any) -> int:
        return (
            await session.scalar(
                select(func.count()).select_from(model).where(model.workspace_id == workspace.id)
            )
            or 0
        )

    async def by_status(model: Any, statuses: Any) -> dict[str, int]:
        rows = await session.execute(
            select(model.status, func.count())
            .where(model.workspace_id == workspace.id)
            .group_by(model.status)
        )
        found = {str(status): number for status, number in rows.all()}
        return {status.value: found.get(status.value, 0) for status in statuses}

    return DemoSummary(
        workspace_name=workspace.name,
        workspace_slug=workspace.slug,
        created=False,
        users=await count(Membership),
        channels=await count(Channel),
        plans=await count(Plan),
        labels=await count(Label),
        posts=await by_status(Post, PostStatus),
        deliveries=await by_status(Delivery, DeliveryStatus),
    )


async def _users(session: AsyncSession) -> dict[Role, User]:
    """The demo users, reused when they exist (their memberships went with the
    workspace), with the owner's password set so the printed sign-in works."""
    existing = {
        user.email: user
        for user in await session.scalars(select(User).where(User.email.in_(DEMO_EMAILS)))
    }
    users: dict[Role, User] = {}
    for email, name, role in _USERS:
        user = existing.get(email) or User(id=uuid.uuid4(), email=email)
        user.display_name = name
        user.is_active = True
        user.password_hash = hash_password(DEMO_PASSWORD) if role is Role.owner else None
        session.add(user)
        users[role] = user
    return users


async def load_demo(
    database: Database,
    settings: Settings,
    *,
    today: date | None = None,
    reset: bool = False,
    now: datetime | None = None,
) -> DemoSummary:
    """Create the demo workspace (see the module docstring); idempotent.

    An existing demo workspace is left alone unless ``reset``, which deletes it and
    the demo users first. ``now`` defaults to noon in Paris on ``today`` when
    ``today`` is given, else to the clock (and ``today`` to its date in Paris).
    """
    if now is None:
        now = (
            datetime.now(UTC)
            if today is None
            else to_utc(datetime.combine(today, time(12, 0)), DEMO_TIMEZONE)
        )
    if today is None:
        today = to_local(now, DEMO_TIMEZONE).date()
    async with database.write_session() as session:
        existing = await session.scalar(select(Workspace).where(Workspace.slug == DEMO_SLUG))
        if existing is not None and not reset:
            return await _counts(session, existing)
        if existing is not None:
            await session.execute(delete(Workspace).where(Workspace.id == existing.id))
            await session.execute(delete(User).where(User.email.in_(DEMO_EMAILS)))
            session.expunge_all()
        workspace = await _build(session, settings, today=today, now=now)
        summary = await _counts(session, workspace)
        await session.commit()
    summary.created = True
    return summary


async def _build(
    session: AsyncSession, settings: Settings, *, today: date, now: datetime
) -> Workspace:
    rng = random.Random(f"almanac-demo-{today.isoformat()}")
    users = await _users(session)
    workspace = Workspace(
        id=uuid.uuid4(),
        name=DEMO_NAME,
        slug=DEMO_SLUG,
        timezone=DEMO_TIMEZONE,
        approval_required=True,
        approvals_needed=1,
        authors_may_self_approve=False,
        reviewer_edit_keeps_approval=False,
        lateness_limit_minutes=LATENESS_MINUTES,
        paused=False,
    )
    session.add(workspace)
    await session.flush()

    session.add_all(
        Membership(workspace_id=workspace.id, user_id=users[role].id, role=role)
        for _, _, role in _USERS
    )
    labels = {
        name: Label(id=uuid.uuid4(), workspace_id=workspace.id, name=name, color=color)
        for name, color, _ in _LABELS
    }
    session.add_all(labels.values())
    box = CredentialBox(settings.encryption_keys)
    channels: dict[str, Channel] = {}
    for key, network, name, handle, limits in _CHANNELS:
        sandbox = network is Network.sandbox
        channels[key] = Channel(
            id=uuid.uuid4(),
            workspace_id=workspace.id,
            network=network,
            name=name,
            account_handle=handle,
            credentials_encrypted=box.seal({"handle": handle}) if sandbox else None,
            status=ChannelStatus.connected if sandbox else ChannelStatus.expired,
            status_message=None if sandbox else DEMO_CHANNEL_MESSAGE,
            limits=dict(limits),
            verified_at=now if sandbox else None,
        )
    session.add_all(channels.values())

    first, last = _month_bounds(today)
    mix = {str(labels[name].id): share for name, _, share in _LABELS}
    month_plan = Plan(
        id=uuid.uuid4(),
        workspace_id=workspace.id,
        kind=PlanKind.month,
        period=f"{today:%Y-%m}",
        starts_on=first,
        ends_on=last,
        title=f"{today:%B %Y}: origins and rituals",
        goals=(
            "Launch the new single origins with a story per farm.\n"
            "Grow workshop sign-ups by 20%.\n"
            "Two community posts a week on every network."
        ),
        themes=[
            {"week": week, "theme": _WEEK_THEMES[i % len(_WEEK_THEMES)]}
            for i, week in enumerate(_iso_weeks(first, last))
        ],
        cadence_targets=dict(_CADENCE),
        mix_targets=dict(mix),
    )
    q_first, q_last, quarter = _quarter_bounds(today)
    quarter_plan = Plan(
        id=uuid.uuid4(),
        workspace_id=workspace.id,
        kind=PlanKind.quarter,
        period=f"{today.year}-Q{quarter}",
        starts_on=q_first,
        ends_on=q_last,
        title=f"Q{quarter} {today.year}: from farm to cup",
        goals=(
            "Open the Riverside café with a full house.\n"
            "Reach 12,000 followers across networks.\n"
            "Publish the yearly impact report."
        ),
        themes=_quarter_themes(q_first, q_last),
        cadence_targets=dict(_CADENCE),
        mix_targets=dict(mix),
    )
    session.add_all([month_plan, quarter_plan])
    await session.flush()

    specs = _specs()
    slots = _place(specs, now, first, last, rng)
    posts: list[tuple[_Spec, Post]] = []
    for index, spec in enumerate(specs):
        slot = slots.get(index)
        post = Post(
            id=uuid.uuid4(),
            workspace_id=workspace.id,
            plan_id=month_plan.id if slot is not None else None,
            author_id=users[Role.editor if spec.by_editor else Role.owner].id,
            title=spec.title,
            body=spec.body,
            media=[],
            link=spec.link,
            status=spec.status,
            local_at=slot.local_at if slot else None,
            timezone=DEMO_TIMEZONE,
            fold=0,
            due_at=slot.due_at if slot else None,
            labels=[labels[name] for name in spec.labels],
        )
        variants = []
        for key in spec.channels:
            text = _variant_text(spec, channels[key].network)
            variant = Variant(
                id=uuid.uuid4(), post_id=post.id, channel_id=channels[key].id, text=text
            )
            variant.content_hash = _hash(post, text)
            if spec.status is PostStatus.approved or spec.edited is not None:
                variant.approved_hash = variant.content_hash
            if spec.edited is not None and spec.edited[0] == key:
                variant.approved_hash = _hash(post, spec.edited[1])
            variants.append(variant)
        post.variants = variants
        session.add(post)
        posts.append((spec, post))
    await session.flush()

    outbox: list[SandboxPost] = []
    deliveries = []
    for spec, post in posts:
        if spec.deliveries is None or post.due_at is None:
            continue
        for key, variant in zip(spec.channels, post.variants, strict=True):
            deliveries.append(
                _delivery(
                    workspace=workspace,
                    post=post,
                    variant=variant,
                    channel=channels[key],
                    outcome=spec.deliveries.get(key, _PENDING),
                    now=now,
                    settings=settings,
                    rng=rng,
                    outbox=outbox,
                )
            )
    session.add_all(outbox)
    await session.flush()
    session.add_all(deliveries)
    await session.flush()
    return workspace
