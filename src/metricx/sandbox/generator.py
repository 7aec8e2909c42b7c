"""The sandbox's ad world: accounts, campaigns, ad sets and ads, generated from the seed.

Entities are few enough to hold in memory (thousands); their delivery numbers are not, and
live in delivery.py as pure functions of (ad, hour).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from metricx.sandbox.config import SandboxConfig
from metricx.sandbox.hashing import mix, unit
from metricx.sandbox.tokens import sandbox_user_id

# (currency, minor-unit exponent, timezone name, Meta timezone_id, typical CPM in minor units)
# Accounts cycle through these by index (account i gets profile i % 5): tests name accounts
# by index, so new profiles go at the end. The fifth, a USD account in Tokyo (+09:00, no DST;
# Meta's TZ_ASIA_TOKYO is 77), shares its currency with Los Angeles 17 hours behind it: the
# same date is a different span of time in each, and their totals still add up per currency.
ACCOUNT_PROFILES: tuple[tuple[str, int, str, int, int], ...] = (
    ("USD", 2, "America/Los_Angeles", 1, 900),
    ("EUR", 2, "Europe/Berlin", 69, 750),
    ("JPY", 0, "UTC", 0, 1300),
    ("INR", 2, "Asia/Kolkata", 83, 16000),
    ("USD", 2, "Asia/Tokyo", 77, 900),
)

ODAX_OBJECTIVES = (
    "OUTCOME_SALES",
    "OUTCOME_LEADS",
    "OUTCOME_TRAFFIC",
    "OUTCOME_AWARENESS",
    "OUTCOME_ENGAGEMENT",
    "OUTCOME_APP_PROMOTION",
)
LEGACY_OBJECTIVES = (
    "CONVERSIONS",
    "LEAD_GENERATION",
    "LINK_CLICKS",
    "BRAND_AWARENESS",
    "APP_INSTALLS",
    "PRODUCT_CATALOG_SALES",
    "POST_ENGAGEMENT",
    "REACH",
)

FIRST_OBJECTIVES = (
    "OUTCOME_SALES",
    "OUTCOME_LEADS",
    "OUTCOME_TRAFFIC",
    "CONVERSIONS",
    "OUTCOME_AWARENESS",
    "OUTCOME_APP_PROMOTION",
    "LEAD_GENERATION",
    # appended (issue 16): every world of 8+ campaigns has an engagement campaign (video,
    # messaging); campaigns 0-6 keep their objectives, so their figures are unchanged
    "OUTCOME_ENGAGEMENT",
)
ALL_OBJECTIVES = ODAX_OBJECTIVES + LEGACY_OBJECTIVES

# objective -> (family, optimization_goal)
OBJECTIVE_FAMILY: dict[str, tuple[str, str]] = {
    "OUTCOME_SALES": ("sales", "OFFSITE_CONVERSIONS"),
    "CONVERSIONS": ("sales", "OFFSITE_CONVERSIONS"),
    "PRODUCT_CATALOG_SALES": ("sales", "OFFSITE_CONVERSIONS"),
    "OUTCOME_LEADS": ("leads", "LEAD_GENERATION"),
    "LEAD_GENERATION": ("leads", "LEAD_GENERATION"),
    "OUTCOME_TRAFFIC": ("traffic", "LANDING_PAGE_VIEWS"),
    "LINK_CLICKS": ("traffic", "LINK_CLICKS"),
    "OUTCOME_AWARENESS": ("awareness", "REACH"),
    "BRAND_AWARENESS": ("awareness", "AD_RECALL_LIFT"),
    "REACH": ("awareness", "REACH"),
    "OUTCOME_ENGAGEMENT": ("engagement", "POST_ENGAGEMENT"),
    "POST_ENGAGEMENT": ("engagement", "POST_ENGAGEMENT"),
    "OUTCOME_APP_PROMOTION": ("app", "APP_INSTALLS"),
    "APP_INSTALLS": ("app", "APP_INSTALLS"),
}

# The result Ads Manager counts for an ad set's optimization goal (the sandbox's side of the
# mapping; "actions:<type>" reads that action's default-attribution count). AD_RECALL_LIFT's
# result (estimated ad recallers) is not served: its results are unknown (null).
GOAL_RESULTS: dict[str, str] = {
    "LEAD_GENERATION": "actions:lead",
    "LANDING_PAGE_VIEWS": "actions:landing_page_view",
    "LINK_CLICKS": "actions:link_click",
    "REACH": "reach",
    "IMPRESSIONS": "impressions",
    "AD_RECALL_LIFT": "estimated_ad_recallers",
    "THRUPLAY": "video_thruplay_watched_actions",
    "POST_ENGAGEMENT": "actions:post_engagement",
    "CONVERSATIONS": "actions:onsite_conversion.messaging_conversation_started_7d",
    "APP_INSTALLS": "actions:mobile_app_install",
}
PIXEL_EVENT_ACTIONS = {
    "PURCHASE": "offsite_conversion.fb_pixel_purchase",
    "LEAD": "offsite_conversion.fb_pixel_lead",
}


def result_indicator(goal: str, promoted_object: dict[str, str]) -> str:
    """Meta's `results` indicator for an optimization goal (+ promoted object)."""
    if goal == "OFFSITE_CONVERSIONS":
        custom = promoted_object.get("custom_conversion_id")
        if custom:
            return f"actions:offsite_conversion.custom.{custom}"
        event = promoted_object.get("custom_event_type", "PURCHASE")
        return "actions:" + PIXEL_EVENT_ACTIONS.get(event, "offsite_conversion.fb_pixel_custom")
    return GOAL_RESULTS.get(goal, "")


KIND_CAMPAIGN, KIND_ADSET, KIND_AD, KIND_CREATIVE, KIND_REPORT = 1, 2, 3, 4, 5
KIND_CUSTOM_CONVERSION = 6
KIND_VIDEO = 7

# Attribution settings (windows whose figures add up to an action's default `value`): most ad
# sets keep Meta's default; the others make some campaigns mix settings.
DEFAULT_ATTRIBUTION: tuple[str, ...] = ("7d_click", "1d_view")
OTHER_ATTRIBUTIONS: tuple[tuple[str, ...], ...] = (
    ("1d_click",),
    ("7d_click",),
    ("1d_click", "1d_view"),
)
VIDEO_FAMILIES = frozenset({"awareness", "engagement"})
# (name, custom_event_type, rule): an account has the first 2-4
CUSTOM_CONVERSION_KINDS = (
    ("Purchase over 100", "PURCHASE", '{"and":[{"event":{"eq":"Purchase"}},{"value":{"gt":100}}]}'),
    ("Demo request", "LEAD", '{"and":[{"event":{"eq":"Lead"}},{"url":{"i_contains":"/demo"}}]}'),
    ("Checkout thank-you", "PURCHASE", '{"url":{"i_contains":"/checkout/thank-you"}}'),
    ("Newsletter sign-up", "LEAD", '{"url":{"i_contains":"/newsletter/welcome"}}'),
)
HIDDEN_STATUSES = frozenset({"DELETED", "ARCHIVED"})


@dataclass
class Account:
    index: int
    id: str  # act_N
    account_id: str  # N
    name: str
    currency: str
    exponent: int  # minor-unit digits: 2 for USD, 0 for JPY
    timezone_name: str
    timezone_id: int
    tz: ZoneInfo
    cpm_minor: int
    created: datetime
    campaigns: list[Campaign] = field(default_factory=list)
    custom_conversions: list[CustomConversion] = field(default_factory=list)
    # Creatives (issue 17) by slot in the account's pool, made as the first ad using one is.
    creative_slots: dict[int, Creative] = field(default_factory=dict)

    @property
    def creatives(self) -> list[Creative]:
        return [self.creative_slots[k] for k in sorted(self.creative_slots)]

    @property
    def pixel_id(self) -> str:
        return f"7{self.account_id}"

    @property
    def page_id(self) -> str:
        return f"8{self.account_id}"

    @property
    def ads(self) -> list[Ad]:
        return [ad for c in self.campaigns for s in c.adsets for ad in s.ads]

    @property
    def adsets(self) -> list[AdSet]:
        return [s for c in self.campaigns for s in c.adsets]


@dataclass
class CustomConversion:
    """`act_X/customconversions`: a pixel rule; fires as `offsite_conversion.custom.<id>`."""

    id: str
    name: str
    custom_event_type: str  # PURCHASE or LEAD
    rule: str  # JSON text, as Meta returns it
    account: Account
    created: datetime
    is_archived: bool
    is_unavailable: bool
    default_conversion_value: int


@dataclass(frozen=True, eq=False)
class ActionProfile:
    """What an ad set's delivery reports as actions: ads of one profile add up as vectors.
    Interned per world (World.profile), so identity is equality and hashing is cheap in the
    per-hour summing loop."""

    family: str  # objective family (sales, leads, traffic, awareness, engagement, app)
    attribution: tuple[str, ...]  # windows summed into an action's default `value`
    custom_conversion_id: str  # the custom conversion firing in it, or ""
    messaging: bool  # reports messaging conversations started
    result: str = ""  # the optimization goal's `results` indicator (GOAL_RESULTS)

    @property
    def attribution_setting(self) -> str:
        """Meta's insights `attribution_setting`, e.g. "7d_click_1d_view"."""
        return "_".join(self.attribution)

    @property
    def video(self) -> bool:
        return self.family in VIDEO_FAMILIES


@dataclass
class Campaign:
    index: int
    id: str
    name: str
    account: Account
    objective: str
    status: str
    created: datetime
    stopped: datetime | None  # when status turned non-ACTIVE
    daily_budget_minor: int
    adsets: list[AdSet] = field(default_factory=list)

    @property
    def effective_status(self) -> str:
        return self.status

    @property
    def updated(self) -> datetime:
        return self.stopped or self.created

    @property
    def ads(self) -> list[Ad]:
        return [ad for s in self.adsets for ad in s.ads]


@dataclass
class AdSet:
    index: int
    id: str
    name: str
    campaign: Campaign
    status: str
    created: datetime
    stopped: datetime | None
    daily_budget_minor: int
    ads: list[Ad] = field(default_factory=list)
    optimization_goal: str = "IMPRESSIONS"
    promoted_object: dict[str, str] = field(default_factory=dict)
    profile: ActionProfile = ActionProfile("awareness", DEFAULT_ATTRIBUTION, "", False)

    @property
    def attribution_spec(self) -> list[dict[str, Any]]:
        return [
            {
                "event_type": "CLICK_THROUGH" if w.endswith("_click") else "VIEW_THROUGH",
                "window_days": int(w.split("d_", 1)[0]),
            }
            for w in self.profile.attribution
        ]

    @property
    def result_indicator(self) -> str:
        return self.profile.result

    @property
    def account(self) -> Account:
        return self.campaign.account

    @property
    def effective_status(self) -> str:
        if self.status in HIDDEN_STATUSES or self.status == "PAUSED":
            return self.status
        if self.campaign.status == "PAUSED":
            return "CAMPAIGN_PAUSED"
        return self.status

    @property
    def updated(self) -> datetime:
        return self.stopped or self.created


@dataclass
class Ad:
    index: int
    id: str
    name: str
    adset: AdSet
    status: str
    review: str  # "" or an effective status that overrides ACTIVE (PENDING_REVIEW, ...)
    created: datetime
    stopped: datetime | None
    key: int  # hash key for delivery numbers
    start_ts: int  # delivery window [start_ts, end_ts) in epoch seconds
    end_ts: int
    base_impressions: float
    ctr: float
    cvr: float
    aov_minor: int
    creative: Creative | None = None

    @property
    def campaign(self) -> Campaign:
        return self.adset.campaign

    @property
    def account(self) -> Account:
        return self.adset.campaign.account

    @property
    def effective_status(self) -> str:
        if self.status in HIDDEN_STATUSES or self.status == "PAUSED":
            return self.status
        if self.campaign.status == "PAUSED":
            return "CAMPAIGN_PAUSED"
        if self.adset.status == "PAUSED":
            return "ADSET_PAUSED"
        return self.review or self.status

    @property
    def updated(self) -> datetime:
        return self.stopped or self.created


@dataclass
class AdImage:
    hash: str  # 32 hex, as Meta's image hashes
    name: str
    account: Account
    width: int
    height: int
    created: datetime


@dataclass
class AdVideo:
    id: str
    title: str
    account: Account
    length: float  # seconds
    created: datetime


@dataclass
class Creative:
    """`act_X/adcreatives`: copy, call to action, link, url_tags and one image or video."""

    index: int  # slot in the account's pool
    id: str
    name: str
    account: Account
    title: str
    body: str
    call_to_action_type: str
    link: str
    url_tags: str
    image: AdImage | None
    video: AdVideo | None
    created: datetime

    @property
    def thumbnail_key(self) -> str:
        return f"v{self.video.id}" if self.video is not None else f"i{self.image.hash}"  # type: ignore[union-attr]


Entity = Campaign | AdSet | Ad


def _status(h: int, parent_status: str, active: float = 0.8) -> str:
    if parent_status in HIDDEN_STATUSES:
        return parent_status  # deleting/archiving a parent takes its children with it
    u = unit(h)
    if u < active:
        return "ACTIVE"
    rest = (u - active) / (1 - active)
    return "PAUSED" if rest < 0.5 else "ARCHIVED" if rest < 0.75 else "DELETED"


class World:
    """Every entity of one seed and size, with O(1) lookup by id."""

    def __init__(self, config: SandboxConfig, initial_now: datetime) -> None:
        self.seed = config.seed
        self.user_id = sandbox_user_id(config.seed)
        self.user_name = "Sandbox User"
        self.anchor = initial_now.astimezone(UTC).replace(
            hour=0, minute=0, second=0, microsecond=0
        ) - timedelta(days=config.days)
        self.initial_now = initial_now
        self.accounts: list[Account] = []
        self.by_id: dict[str, Account | Campaign | AdSet | Ad] = {}
        self._profiles: dict[tuple[str, tuple[str, ...], str, bool, str], ActionProfile] = {}
        # Creatives per account: about one for every two ads, shared across ad sets.
        self.creative_pool = max(
            1, (config.campaigns * config.adsets_per_campaign * config.ads_per_adset + 1) // 2
        )
        self.creatives_by_id: dict[str, Creative] = {}
        self.videos_by_id: dict[str, Any] = {}
        self._build(config)

    def entity_id(self, kind: int, index: int) -> str:
        return f"120{self.seed % 100000:05d}{kind}{index:09d}"

    def _build(self, config: SandboxConfig) -> None:
        seed = config.seed
        span = (self.initial_now - self.anchor).total_seconds()
        n_campaign = n_adset = n_ad = 0
        for a in range(config.accounts):
            currency, exponent, tzname, tzid, cpm = ACCOUNT_PROFILES[a % len(ACCOUNT_PROFILES)]
            number = f"1{seed % 100000:05d}{a + 1:09d}"
            account = Account(
                index=a,
                id=f"act_{number}",
                account_id=number,
                name=f"Sandbox {currency} {tzname.split('/')[-1].replace('_', ' ')} #{a + 1}",
                currency=currency,
                exponent=exponent,
                timezone_name=tzname,
                timezone_id=tzid,
                tz=ZoneInfo(tzname),
                cpm_minor=cpm,
                created=self.anchor - timedelta(days=400),
            )
            self.accounts.append(account)
            self.by_id[account.id] = account
            self.by_id[account.account_id] = account
            self._add_custom_conversions(account, mix(seed, 6, a))
            for c in range(config.campaigns):
                h = mix(seed, 1, a, c)
                # every account gets the main families first, then a seeded mix
                objective = (
                    FIRST_OBJECTIVES[c]
                    if c < len(FIRST_OBJECTIVES)
                    else ALL_OBJECTIVES[mix(h, 2) % len(ALL_OBJECTIVES)]
                )
                status = _status(mix(h, 3), "ACTIVE", 0.7)
                created = self.anchor + timedelta(seconds=span * 0.4 * unit(mix(h, 4)))
                stopped = self._stop_time(status, created, mix(h, 5))
                campaign = Campaign(
                    index=n_campaign,
                    id=self.entity_id(KIND_CAMPAIGN, n_campaign),
                    name=f"{objective.title().replace('_', ' ')} campaign {c + 1}",
                    account=account,
                    objective=objective,
                    status=status,
                    created=created,
                    stopped=stopped,
                    daily_budget_minor=5000 + mix(h, 6) % 45000,
                )
                n_campaign += 1
                account.campaigns.append(campaign)
                self.by_id[campaign.id] = campaign
                for s in range(config.adsets_per_campaign):
                    hs = mix(h, 10, s)
                    s_status = _status(mix(hs, 1), status)
                    s_created = created + timedelta(seconds=span * 0.1 * unit(mix(hs, 2)))
                    adset = AdSet(
                        index=n_adset,
                        id=self.entity_id(KIND_ADSET, n_adset),
                        name=f"Audience {s + 1} / {campaign.name}",
                        campaign=campaign,
                        status=s_status,
                        created=s_created,
                        stopped=self._stop_time(s_status, s_created, mix(hs, 3)) or stopped,
                        daily_budget_minor=campaign.daily_budget_minor // 2,
                    )
                    self._settle(adset, c, s, mix(hs, 30))
                    n_adset += 1
                    campaign.adsets.append(adset)
                    self.by_id[adset.id] = adset
                    for d in range(config.ads_per_adset):
                        self._add_ad(adset, n_ad, mix(hs, 20, d), d)
                        n_ad += 1

    def _add_custom_conversions(self, account: Account, h: int) -> None:
        for k in range(2 + mix(h, 1) % 3):
            name, event, rule = CUSTOM_CONVERSION_KINDS[k]
            index = account.index * len(CUSTOM_CONVERSION_KINDS) + k
            account.custom_conversions.append(
                CustomConversion(
                    id=self.entity_id(KIND_CUSTOM_CONVERSION, index),
                    name=name,
                    custom_event_type=event,
                    rule=rule,
                    account=account,
                    created=self.anchor - timedelta(days=200 - 30 * k),
                    is_archived=k == 3,
                    is_unavailable=False,
                    default_conversion_value=100 if event == "PURCHASE" else 0,
                )
            )

    def _settle(self, adset: AdSet, c: int, s: int, h: int) -> None:
        """The ad set's optimization goal, promoted object, attribution setting and what
        fires in it, from new hash draws (no other number depends on them). The first ad set
        of a campaign keeps the objective's goal and Meta's default setting; in the first
        three campaigns of an account the second ad set always differs (sales: optimizes a
        custom conversion under 1d_click; leads: website leads; traffic: the other goal), so
        every world has campaigns mixing goals and attribution settings."""
        account = adset.account
        fam, goal = OBJECTIVE_FAMILY.get(adset.campaign.objective, ("awareness", "IMPRESSIONS"))
        u_goal, u_attr, u_fire, u_msg = (unit(mix(h, k)) for k in range(4))
        forced = s == 1 and c < 3
        if s == 0:
            attribution = DEFAULT_ATTRIBUTION
        elif forced and c == 0:
            attribution = ("1d_click",)
        elif forced or u_attr < 0.55:
            attribution = DEFAULT_ATTRIBUTION
        else:
            attribution = OTHER_ATTRIBUTIONS[min(2, int((u_attr - 0.55) / 0.15))]
        variant = u_goal if s > 0 and not forced else (0.0 if forced else 1.0)
        promoted: dict[str, str] = {}
        by_event = {
            e: [cc for cc in account.custom_conversions if cc.custom_event_type == e]
            for e in ("PURCHASE", "LEAD")
        }
        custom = ""
        if fam == "sales":
            if variant < 0.2:
                custom = by_event["PURCHASE"][mix(h, 9) % len(by_event["PURCHASE"])].id
                promoted = {"pixel_id": account.pixel_id, "custom_conversion_id": custom}
            elif variant < 0.3:
                goal = "LANDING_PAGE_VIEWS"
                promoted = {"pixel_id": account.pixel_id}
            else:
                promoted = {"pixel_id": account.pixel_id, "custom_event_type": "PURCHASE"}
        elif fam == "leads":
            if variant < 0.3:
                goal = "OFFSITE_CONVERSIONS"
                promoted = {"pixel_id": account.pixel_id, "custom_event_type": "LEAD"}
            else:
                promoted = {"page_id": account.page_id}
        elif fam == "traffic":
            if variant < 0.35:
                goal = "LINK_CLICKS" if goal == "LANDING_PAGE_VIEWS" else "LANDING_PAGE_VIEWS"
        elif fam == "awareness":
            promoted = {"page_id": account.page_id}
            if variant < 0.25:
                goal = "THRUPLAY"
            elif variant < 0.4:
                goal = "IMPRESSIONS"
        elif fam == "engagement":
            promoted = {"page_id": account.page_id}
            if variant < 0.25:
                goal = "THRUPLAY"
            elif variant < 0.45:
                goal = "CONVERSATIONS"
        elif fam == "app":
            promoted = {
                "application_id": f"5{account.account_id}",
                "object_store_url": "https://play.google.com/store/apps/details?id=sandbox.app",
            }
        if not custom and fam in ("sales", "leads") and u_fire < 0.4:
            pool = by_event["PURCHASE" if fam == "sales" else "LEAD"]
            if pool:
                custom = pool[mix(h, 8) % len(pool)].id
        messaging = goal == "CONVERSATIONS" or (fam == "engagement" and u_msg < 0.3)
        adset.optimization_goal = goal
        adset.promoted_object = promoted
        adset.profile = self.profile(
            fam, attribution, custom, messaging, result_indicator(goal, promoted)
        )

    def profile(
        self, fam: str, attribution: tuple[str, ...], custom: str, messaging: bool, result: str
    ) -> ActionProfile:
        key = (fam, attribution, custom, messaging, result)
        found = self._profiles.get(key)
        if found is None:
            found = self._profiles[key] = ActionProfile(*key)
        return found

    def _stop_time(self, status: str, created: datetime, h: int) -> datetime | None:
        if status == "ACTIVE":
            return None
        remaining = (self.initial_now - created).total_seconds()
        return created + timedelta(seconds=remaining * (0.3 + 0.65 * unit(h)))

    def _add_ad(self, adset: AdSet, index: int, h: int, d: int) -> None:
        status = _status(mix(h, 1), adset.status)
        created = adset.created + timedelta(hours=int(unit(mix(h, 2)) * 72))
        stopped = self._stop_time(status, created, mix(h, 3))
        review = ""
        if status == "ACTIVE":
            r = unit(mix(h, 4))
            review = "PENDING_REVIEW" if r < 0.03 else "WITH_ISSUES" if r < 0.06 else ""
        stops = [t for t in (stopped, adset.stopped, adset.campaign.stopped) if t is not None]
        end = min(stops) if stops else datetime(9999, 1, 1, tzinfo=UTC)
        if review == "PENDING_REVIEW":
            end = created  # never delivered
        ad = Ad(
            index=index,
            id=self.entity_id(KIND_AD, index),
            name=f"Creative {d + 1} / {adset.name}",
            adset=adset,
            status=status,
            review=review,
            created=created,
            stopped=stopped,
            key=mix(self.seed, 3, index),
            start_ts=int(created.timestamp()) // 3600 * 3600 + 3600,
            end_ts=int(min(end, datetime(9000, 1, 1, tzinfo=UTC)).timestamp()),
            base_impressions=20 + 400 * unit(mix(h, 5)) ** 2,
            ctr=0.006 + 0.025 * unit(mix(h, 6)),
            cvr=0.02 + 0.08 * unit(mix(h, 7)),
            aov_minor=int((2000 + 18000 * unit(mix(h, 8))) * self._price(adset)),
        )
        ad.creative = self._creative_for(adset.account, mix(h, 9) % self.creative_pool)
        adset.ads.append(ad)
        self.by_id[ad.id] = ad

    def _creative_for(self, account: Account, slot: int) -> Creative:
        found = account.creative_slots.get(slot)
        if found is None:
            found = make_creative(self, account, slot)
            account.creative_slots[slot] = found
            self.creatives_by_id[found.id] = found
            if found.video is not None:
                self.videos_by_id[found.video.id] = found.video
        return found

    @staticmethod
    def _price(adset: AdSet) -> float:
        # order values in minor units: JPY has no minor unit, INR prices run higher
        return {"JPY": 1.5, "INR": 80.0}.get(adset.account.currency, 1.0)

    def account(self, key: str) -> Account | None:
        found = self.by_id.get(key)
        return found if isinstance(found, Account) else None

    def all_ads(self) -> list[Ad]:
        return [ad for account in self.accounts for ad in account.ads]


# ---- creatives (issue 17; wire shapes and the image CDN in creatives.py) ---------------------

CTA_TYPES = (
    "SHOP_NOW",
    "LEARN_MORE",
    "SIGN_UP",
    "DOWNLOAD",
    "GET_OFFER",
    "CONTACT_US",
    "SUBSCRIBE",
    "WATCH_MORE",
    "BOOK_TRAVEL",
    "APPLY_NOW",
)
TITLES = (
    "Spring sale: 30% off",
    "New arrivals are here",
    "Free shipping this week",
    "Try it free for 30 days",
    "Meet the new collection",
    "Last chance: ends tonight",
    "Your summer essentials",
    "Built for everyday runs",
)
BODIES = (
    "Everything you love, for less. Shop now while stocks last.",
    "Fresh styles, made to last. Find your new favourite today.",
    "Join 10,000+ happy customers. Order in two minutes.",
    "Book a demo and see how much time your team saves.",
    "Sign up for early access and get 15% off your first order.",
    "Watch how it is made, from the first sketch to your door.",
)
PATHS = ("sale", "new", "shipping", "trial", "collection", "last-chance", "summer", "running")
# url_tags styles: `{slot}` is filled in; see the module docstring.
URL_TAGS = (
    "utm_source=facebook&utm_medium=paid_social&utm_campaign={{{{campaign.name}}}}"
    "&utm_content={{{{ad.name}}}}",
    "utm_source=fb&utm_medium=cpc&utm_campaign=spring_sale&utm_content=creative_{slot}"
    "&utm_term=running+shoes",
    "",
    "utm_source=facebook&&utm_medium&=orphan&utm_campaign=50%off%ZZ&utm_content=%E2%9C%93%20check",
    "?utm_source=Instagram&UTM_Medium=Paid%20Social&utm_campaign=summer%2Fsale&utm_source=dup",
    "utm_source={{{{site_source_name}}}}&utm_medium={{{{placement}}}}"
    "&utm_campaign={{{{campaign.id}}}}&utm_id={{{{ad.id}}}}",
)


def make_creative(world: World, account: Account, slot: int) -> Creative:
    h = mix(world.seed, 4, account.index, slot)
    index = account.index * world.creative_pool + slot
    created = world.anchor - timedelta(days=30) + timedelta(hours=int(unit(mix(h, 1)) * 24 * 60))
    is_video = unit(mix(h, 2)) < 0.3
    title = TITLES[mix(h, 3) % len(TITLES)]
    path = PATHS[mix(h, 4) % len(PATHS)]
    image = video = None
    if is_video:
        video = AdVideo(
            id=world.entity_id(KIND_VIDEO, index),
            title=f"{title} (video)",
            account=account,
            length=round(6 + 54 * unit(mix(h, 5)), 2),
            created=created,
        )
    else:
        digest = hashlib.md5(f"{world.seed}:{account.index}:{slot}".encode()).hexdigest()
        image = AdImage(
            hash=digest,
            name=f"{path}_{slot + 1}.jpg",
            account=account,
            width=1080,
            height=1080 if mix(h, 6) % 2 else 1350,
            created=created,
        )
    return Creative(
        index=slot,
        id=world.entity_id(KIND_CREATIVE, index),
        name=f"{title} / {'video' if is_video else 'image'} {slot + 1}",
        account=account,
        title=title,
        body=BODIES[mix(h, 7) % len(BODIES)],
        call_to_action_type=CTA_TYPES[mix(h, 8) % len(CTA_TYPES)],
        link=f"https://shop.example.com/{path}?ref={slot + 1}",
        url_tags=URL_TAGS[mix(h, 9) % len(URL_TAGS)].format(slot=slot + 1),
        image=image,
        video=video,
        created=created,
    )
