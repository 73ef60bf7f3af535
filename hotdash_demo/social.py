"""The shop's Instagram account (social): its media and their insights, as the app stores them
(topics instagram.media and instagram.media_insights: one fact per IG Media object of a media
list, one per insights response, each unchanged in a wrapper with the fetch's context; README
"The facts source").

The shop posts about once a day over the demo's span: an image, a carousel or a video (most
videos are reels), captioned after a product of its catalog. A demo too small for a post a day
posts less often, so that its posts stay about ``_SHARE`` of the shop's facts. The app lists the
account's media daily: a post is fetched the day it is published and again a day and a week
later, its like and comment counts growing; its insights are fetched a day after it is
published and again a week later, revised upward (Meta's figures lag up to 48 hours). Posts
before Meta's switch to ``views`` report ``impressions`` (and reels ``plays``). Now and then a
fact the rules quarantine (``SOCIAL_MALFORMED_KINDS``). Instagram's ids are strings of digits;
some of the shop's media ids start with 0.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from hotdash_demo.clock import NAIVE_EPOCH
from hotdash_demo.render import dumps
from hotdash_demo.topics import Fact

if TYPE_CHECKING:
    from hotdash_demo.shop import Shop

MEDIA = "instagram.media"
MEDIA_INSIGHTS = "instagram.media_insights"

SOCIAL_MALFORMED_KINDS: tuple[str, ...] = (
    "media_like_count_negative",
    "media_timestamp_not_a_time",
    "insights_data_not_an_array",
    "insights_metric_not_a_count",
)
"""Quarantined social facts, cycled through in this order (per topic)."""
_MALFORMED_BY_TOPIC = {
    MEDIA: SOCIAL_MALFORMED_KINDS[:2],
    MEDIA_INSIGHTS: SOCIAL_MALFORMED_KINDS[2:],
}
_MALFORMED_EVERY = 150  # of a shop's social facts
_SHARE = 0.05  # of a shop's facts, at most, for its posts
_FACTS_PER_POST = 5  # the media fetched 3 times, its insights twice
_DAY = 86400
_MEDIA_FETCHES = (0, _DAY, 7 * _DAY)  # after the post; the share of its final counts below
_MEDIA_SHARE = (0.35, 0.8, 1.0)
_INSIGHTS_FETCHES = (_DAY + 3 * 3600, 7 * _DAY + 3 * 3600)
_INSIGHTS_SHARE = (0.85, 1.0)
# Meta's views replaced impressions (and reels' plays) in the Graph API's insights.
_VIEWS_FROM = int((dt.datetime(2025, 4, 21) - NAIVE_EPOCH).total_seconds())
_KINDS = (("IMAGE", 0.45), ("CAROUSEL_ALBUM", 0.2), ("VIDEO", 0.35))


def _pick(rng: Any, weighted: tuple[tuple[str, float], ...]) -> str:
    r = rng.random()
    for value, weight in weighted:
        r -= weight
        if r < 0:
            return value
    return weighted[-1][0]


def _time(sec: int) -> str:
    """Instagram's timestamp: UTC with an offset without a colon (2023-06-12T19:20:02+0000)."""
    return (NAIVE_EPOCH + dt.timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _iso(sec: int) -> str:
    return (NAIVE_EPOCH + dt.timedelta(seconds=sec)).isoformat() + "Z"


class Social:
    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.rng = shop.rng
        k = shop.k
        self.ig_user_id = f"178414{k:02d}{5_550_017 + k:09d}"
        self.handle = shop.domain.split(".")[0].replace("-", "")
        posts = min(shop.span_days, _SHARE * shop.n_expected / _FACTS_PER_POST)
        self.every = shop.span_days * _DAY / max(1.0, posts)  # seconds between posts
        self.n_posts = 0
        self.n_facts = 0
        self.mal_idx = {MEDIA: 0, MEDIA_INSIGHTS: 0}
        # No draw from the generator here: the shops' other parts see the same stream.
        shop.schedule(shop.start_sec + int(self.every * 0.5), self._post, None)

    # --- a post ----------------------------------------------------------------------------

    def _post(self, _: Any, due: int, now: int) -> Fact:
        """A new post: its media fetched now, its later fetches scheduled, the next post too."""
        rng, shop = self.rng, self.shop
        self.n_posts += 1
        n = self.n_posts
        # 17 digits; one media in ten has an id that starts with 0 (ids are text).
        media_id = f"{'0' if n % 10 == 3 else '1'}7{shop.k}{n:014d}"
        kind = _pick(rng, _KINDS)
        product = "REELS" if kind == "VIDEO" and rng.random() < 0.8 else "FEED"
        products = shop.catalog.products
        title = rng.choice(products).title if products else "the shop"
        reach = 1 + int(math.exp(rng.gauss(math.log(900 if product == "REELS" else 400), 0.8)))
        likes = int(reach * rng.uniform(0.03, 0.09))
        post = {
            "id": media_id,
            "posted": due,
            "kind": kind,
            "product": product,
            "caption": f"{title}, on the bench today",
            "reach": reach,
            "likes": likes,
            "comments": int(likes * rng.uniform(0.02, 0.12)),
            "saved": int(reach * rng.uniform(0.002, 0.02)),
            "shares": int(reach * rng.uniform(0.001, 0.01)),
            "follows": int(reach * rng.uniform(0.0, 0.004)),
            "profile_visits": int(reach * rng.uniform(0.005, 0.03)),
            "views": int(reach * rng.uniform(1.3, 2.4)),
        }
        for stage, after in enumerate(_MEDIA_FETCHES[1:], start=1):
            shop.schedule(due + after + rng.randint(0, 3600), self._refetch, (post, stage))
        for stage, after in enumerate(_INSIGHTS_FETCHES):
            shop.schedule(due + after + rng.randint(0, 3600), self._insights, (post, stage))
        shop.schedule(due + int(self.every * rng.uniform(0.7, 1.3)), self._post, None)
        return self._emit(MEDIA, self._media(post, 0, now))

    def _fetched_at(self, due: int, now: int) -> str:
        return _iso(max(due, now - self.rng.randint(5, 600)))

    def _media(self, post: dict[str, Any], stage: int, now: int) -> dict[str, Any]:
        """The IG Media object as GET /{ig-user-id}/media lists it, wrapped."""
        share = _MEDIA_SHARE[stage]
        media_id = post["id"]
        item: dict[str, Any] = {
            "caption": post["caption"],
            "comments_count": int(post["comments"] * share),
            "id": media_id,
            "is_comment_enabled": True,
            "like_count": int(post["likes"] * share),
            "media_type": post["kind"],
            "media_product_type": post["product"],
            "media_url": f"https://scontent.cdninstagram.com/v/{media_id}.jpg",
            "owner": {"id": self.ig_user_id},
            "permalink": f"https://www.instagram.com/p/{media_id[-11:]}/",
            "shortcode": media_id[-11:],
            "timestamp": _time(post["posted"]),
            "username": self.handle,
        }
        if post["kind"] == "VIDEO":
            item["thumbnail_url"] = f"https://scontent.cdninstagram.com/v/{media_id}_thumb.jpg"
        return {
            "ig_user_id": self.ig_user_id,
            "fetched_at": self._fetched_at(post["posted"], now),
            "media": item,
        }

    def _refetch(self, arg: tuple[dict[str, Any], int], due: int, now: int) -> Fact:
        post, stage = arg
        return self._emit(MEDIA, self._media(post, stage, now))

    def _insights(self, arg: tuple[dict[str, Any], int], due: int, now: int) -> Fact:
        """The GET /{ig-media-id}/insights response, wrapped: lifetime metrics."""
        post, stage = arg
        share = _INSIGHTS_SHARE[stage]
        old = post["posted"] < _VIEWS_FROM
        names = ["reach", "likes", "comments", "saved", "shares", "total_interactions"]
        if post["product"] == "REELS":
            names.append("plays" if old else "views")
        else:
            names += ["impressions" if old else "views", "follows", "profile_visits"]
        values = {
            **{k: post[k] for k in ("reach", "likes", "comments", "saved", "shares")},
            "follows": post["follows"],
            "profile_visits": post["profile_visits"],
            "views": post["views"],
            "impressions": post["views"],
            "plays": post["views"],
            "total_interactions": post["likes"] + post["comments"] + post["saved"] + post["shares"],
        }
        media_id = post["id"]
        data = [
            {
                "name": name,
                "period": "lifetime",
                "values": [{"value": int(values[name] * share)}],
                "title": name.replace("_", " ").capitalize(),
                "id": f"{media_id}/insights/{name}/lifetime",
            }
            for name in names
        ]
        body = {
            "media_id": media_id,
            "fetched_at": self._fetched_at(due, now),
            "insights": {"data": data},
        }
        return self._emit(MEDIA_INSIGHTS, body)

    # --- the mess --------------------------------------------------------------------------

    def _emit(self, topic: str, body: dict[str, Any]) -> Fact:
        self.n_facts += 1
        if self.n_facts % _MALFORMED_EVERY == 0:
            return topic, dumps(self._malformed(topic, body))
        return topic, dumps(body)

    def _malformed(self, topic: str, body: dict[str, Any]) -> dict[str, Any]:
        kinds = _MALFORMED_BY_TOPIC[topic]
        kind = kinds[self.mal_idx[topic] % len(kinds)]
        self.mal_idx[topic] += 1
        if kind == "media_like_count_negative":
            body["media"]["like_count"] = -1
        elif kind == "media_timestamp_not_a_time":
            body["media"]["timestamp"] = body["media"]["timestamp"][:10].replace("-", "/")
        elif kind == "insights_data_not_an_array":
            body["insights"]["data"] = {item["name"]: item for item in body["insights"]["data"]}
        else:
            body["insights"]["data"][0]["values"][0]["value"] = "n/a"
        return body
