"""The demo's content chapters: an admin registers two groups, members write in them through
WeCom's chat archive (the simulator's, fed through its control API: that is WeCom's side of the
story), and the service pulls, judges and acts on its own; nothing is planned for it here.

Every line is read back: the decisions from GET /api/v1/violations, the acts from
GET /api/v1/actions, what members received and who is still in a group from the simulator's
state. What the story expects and does not see is said plainly and counted as a failure (the
demo then exits 1).

Quiet hours (C7) are given to each group through its policy, so the story does not depend on the
time of day: none while the ads are posted (the removal notice goes out at once), then a window
around the present for the quiet-hour chapter. WeCom sends at most one msgaudit_notify per 15 s,
so the simulator's clock moves 16 s before each message; each message's msgtime is that clock.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx

from app.simulator.runner import SimulatorServer

if TYPE_CHECKING:
    from app.devtools.demo import Story

SALES = "wrsales2024"  # created by the app: the service may remove members there
CUSTOMER_CHAT = "wrOgQhDgAAcwMTB7YmDkbeBsgT_Kmz3Q"  # a customer group: advised, never enforced
CUSTOMER = "wmQ2vRDgAAhZk9wD2pT8xYFq1mGx_n4A"
NAMES = {
    "zhangsan": "张三",
    "lisi": "李四",
    "zhouba": "周八",
    "sunqi": "孙七",
    CUSTOMER: "陈先生",
    SALES: "销售部工作群",
    CUSTOMER_CHAT: "华东客户服务群",
}
AD = "低价代购正品包包，加微信 ab12345 领取优惠券"
# Spaced and homophone 薇信, full-width digits and traditional characters: the same ad, disguised.
EVASION = "想要的加 薇 信：ａｂ１２３４５，免費領取優惠券"
WORK = "明天上午9点开周会，请准时参加"
NOTIFY_GAP_S = 16  # WeCom sends at most one msgaudit_notify per 15 s
WAIT_S = 20.0


def _name(who: str) -> str:
    return NAMES.get(who, who)


class ContentStory:
    """Members write through the archive; the service's rows and WeCom's state say what it did."""

    def __init__(self, story: Story, admin: httpx.Client, sim: SimulatorServer, timezone: str) -> None:
        self.story = story
        self.admin = admin
        self.sim = sim
        self.tz = ZoneInfo(timezone)
        self.control = httpx.Client(base_url=sim.base_url, trust_env=False, timeout=30)

    def close(self) -> None:
        self.control.close()

    # -- what an admin does ----------------------------------------------------------------------

    def register(self, chat_id: str, kind: str, label: str) -> bool:
        r = self.admin.post("/api/v1/groups", json={"chat_id": chat_id, "kind": kind})
        if r.status_code != 201:
            self.story.fail(f"registering {label}: {r.status_code} {r.text[:120]}")
            return False
        g = r.json()
        self.story.line(
            f"{label} ({kind})", f"{r.status_code}, mode {g['mode']}, {g['member_count']} members"
        )
        return True

    def quiet_hours(self, chat_id: str, window: dict[str, str] | None) -> bool:
        """PUT the group's policy: the work-group rules with these quiet hours (None: none)."""
        r = self.admin.put(
            f"/api/v1/groups/{chat_id}/policy", json={"document": {"C7": {"quiet_hours": window}}}
        )
        shown = f"{window['start']}–{window['end']} {self.tz.key}" if window else "none"
        if r.status_code != 200:
            self.story.fail(f"quiet hours for {_name(chat_id)}: {r.status_code} {r.text[:120]}")
            return False
        stored = r.json()["document"]["C7"]["quiet_hours"]
        self.story.line(
            f"{_name(chat_id)}: quiet hours {shown}", f"{r.status_code}, policy v{r.json()['version']}"
        )
        if stored != window:
            self.story.fail(f"quiet hours for {_name(chat_id)} stored as sent ({shown}), not {stored}")
            return False
        return True

    # -- what members do (WeCom's side) ----------------------------------------------------------

    def write(self, sender: str, chat_id: str, text: str) -> str:
        """The message enters WeCom's archive and WeCom notifies the service; returns its msgid."""
        clock = self.control.post("/_sim/clock/advance", json={"seconds": NOTIFY_GAP_S})
        clock.raise_for_status()
        msgid = f"demo{secrets.token_hex(8)}"
        message = {
            "from": sender,
            "roomid": chat_id,
            "content": text,
            "msgid": msgid,
            "msgtime": int(clock.json()["now"] * 1000),
        }
        r = self.control.post("/_sim/archive/messages", json={"messages": [message], "notify": True})
        r.raise_for_status()
        answer = r.json()
        statuses = answer["delivery"]["attempts"]
        notice = statuses[-1]["status"] if statuses else "not delivered"
        self.story.line(
            f"{_name(sender)}: “{text}”", f"archive seq {answer['seqs'][0]}, msgaudit_notify {notice}"
        )
        return msgid

    # -- what the service did (its rows) ---------------------------------------------------------

    def decision(self, msgid: str, who: str) -> dict[str, Any] | None:
        """The violation the service recorded for this message, once its acts are finished."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            # Read whether the message was processed first: a violation is committed with it.
            processed = self._processed(msgid)
            items = self.admin.get("/api/v1/violations", params={"limit": 50}).json()["items"]
            found: dict[str, Any] | None = next((v for v in items if v["message_id"] == msgid), None)
            if found is None and processed:
                self.story.fail(f"a decision on {_name(who)}'s message: judged, and no violation recorded")
                return None
            if found is not None:
                acts = self.actions(found["actions"])
                if acts is not None:
                    found["acts"] = acts
                    self.story.line(
                        f"violation #{found['id']}: {found['rule_id']} {found['verdict']}",
                        f"offence {found['offence']}, {len(acts)} act(s) planned",
                    )
                    return found
            time.sleep(0.1)
        self.story.fail(f"a decision on {_name(who)}'s message: nothing recorded within {WAIT_S:.0f} s")
        return None

    def _processed(self, msgid: str) -> bool:
        """The service processed the archived message (GET /api/v1/events: its inbound event)."""
        events = self.admin.get("/api/v1/events", params={"limit": 50}).json()["items"]
        return any(e["dedupe_key"] == f"archive:{msgid}" and e["status"] == "processed" for e in events)

    def actions(self, ids: list[int]) -> list[dict[str, Any]] | None:
        """The actions with these ids, once none is planned or executing (None until then)."""
        if not ids:
            return []
        items = self.admin.get("/api/v1/actions", params={"limit": 100}).json()["items"]
        found = [a for a in items if a["id"] in ids]
        if len(found) < len(ids) or any(a["status"] in ("planned", "executing") for a in found):
            return None
        return sorted(found, key=lambda a: a["id"])

    def expect(self, violation: dict[str, Any] | None, rule_id: str, verdict: str) -> bool:
        if violation is None:
            return False
        if (violation["rule_id"], violation["verdict"]) != (rule_id, verdict):
            self.story.fail(
                f"{rule_id} {verdict} expected, the service decided "
                f"{violation['rule_id']} {violation['verdict']}"
            )
            return False
        return True

    # -- what WeCom saw (the simulator's state) --------------------------------------------------

    def state(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.control.get("/_sim/state").json()
        return answer

    def members(self, chat_id: str) -> list[str]:
        return list(self.state()["app_chats"][chat_id]["members"])

    def delivered(self, act: dict[str, Any]) -> dict[str, Any] | None:
        """What WeCom received for this act: the app message by its msgid, the group message by its
        text (WeCom gives group messages no msgid)."""
        for m in self.state()["messages"]:
            if act["kind"] == "send_private_message" and m["kind"] == "message":
                if act["wecom_msgid"] and m["msgid"] == act["wecom_msgid"]:
                    return dict(m)
            elif act["kind"] == "send_group_message" and m["kind"] == "appchat":
                body = (act["params"] or {}).get("body", {})
                if m["chatid"] == act["params"]["chatid"] and m["payload"]["text"] == body:
                    return dict(m)
        return None

    def show(self, act: dict[str, Any] | None, what: str, *needles: str) -> str:
        """One line for an act (its row: status, errcode) and the lines of the text WeCom
        delivered that contain a needle; returns that text ("" when nothing was delivered)."""
        if act is None:
            self.story.fail(f"{what}: the service planned no such act")
            return ""
        self.story.line(f"{what} ({act['kind']})", f"{act['status']}, errcode {act['wecom_errcode']}")
        if act["kind"] not in ("send_private_message", "send_group_message"):
            return ""
        sent = self.delivered(act)
        if sent is None:
            self.story.fail(f"{what}: WeCom has no such message")
            return ""
        text: str = sent["payload"]["text"]["content"]
        to = ", ".join(_name(u) for u in sent["touser"]) if sent["kind"] == "message" else "the group"
        self.story.line(f"  WeCom delivered it to {to}:")
        for line in text.splitlines():
            if any(n in line for n in needles):
                self.story.line(f"  │ {line}")
        return text


def _act(violation: dict[str, Any], kind: str, to: str | None = None) -> dict[str, Any] | None:
    acts: list[dict[str, Any]] = violation["acts"]
    for a in acts:
        if a["kind"] == kind and (to is None or to in (a["params"] or {}).get("touser", [])):
            return a
    return None


def play_content(story: Story, admin: httpx.Client, sim: SimulatorServer, timezone: str) -> None:
    c = ContentStory(story, admin, sim, timezone)
    try:
        story.chapter("An admin registers two groups (POST /api/v1/groups) and their quiet hours")
        if not (
            c.register(SALES, "app", "销售部工作群: adopt the app's chat")
            and c.register(CUSTOMER_CHAT, "customer", "华东客户服务群: a customer group")
            and c.quiet_hours(SALES, None)
            and c.quiet_hours(CUSTOMER_CHAT, None)
        ):
            return
        _ads_in_enforced_group(story, c)
        _ads_in_customer_group(story, c)
        _evasion(story, c)
        _quiet_hours(story, c)
        _summary(story, c)
    finally:
        c.close()


def _ads_in_enforced_group(story: Story, c: ContentStory) -> None:
    story.chapter("李四 posts an ad in 销售部工作群, twice (WeCom's chat archive; the service pulls)")
    first = c.decision(c.write("lisi", SALES, AD), "lisi")
    if c.expect(first, "C1", "warn") and first is not None:
        text = c.show(_act(first, "send_private_message", "lisi"), "private warning to 李四", "C1", "命中")
        if "C1" not in text:
            story.fail("the warning quotes rule C1")
        members = c.members(SALES)
        story.line("李四 still in 销售部工作群", "yes" if "lisi" in members else "NO")
        if "lisi" not in members:
            story.fail("a first offence removes nobody")
    second = c.decision(c.write("lisi", SALES, AD), "lisi")
    if not (c.expect(second, "C1", "remove") and second is not None):
        return
    c.show(_act(second, "remove_member"), "李四 removed")
    members = c.members(SALES)
    story.line("销售部工作群 members now (WeCom)", ", ".join(members))
    if "lisi" in members:
        story.fail("李四 is no longer in 销售部工作群")
    notice = c.show(_act(second, "send_group_message"), "the group is told why", "C1")
    appeal = c.show(_act(second, "send_private_message", "lisi"), "李四 is told how to appeal", "C1", "申诉")
    if "C1" not in notice or "申诉" not in appeal:
        story.fail("the group notice quotes C1 and the DM says how to appeal (申诉)")


def _ads_in_customer_group(story: Story, c: ContentStory) -> None:
    story.chapter("The same ad from a customer in 华东客户服务群 (advised: WeCom lets no app remove there)")
    first = c.decision(c.write(CUSTOMER, CUSTOMER_CHAT, AD), CUSTOMER)
    if c.expect(first, "C1", "warn") and first is not None:
        reached = [m for m in c.state()["messages"] if CUSTOMER in m["touser"]]
        story.line(
            "a warning to 陈先生",
            "none: app messages reach members only" if not reached else f"{len(reached)} sent (NOT expected)",
        )
        if first["acts"] or reached:
            story.fail("nothing is sent to a customer")
    second = c.decision(c.write(CUSTOMER, CUSTOMER_CHAT, AD), CUSTOMER)
    if not (c.expect(second, "C1", "advise") and second is not None):
        return
    advice = c.show(_act(second, "send_private_message", "zhangsan"), "the owner advised", "C1", "建议")
    if "C1" not in advice:
        story.fail("the owner's advice quotes C1")
    state = c.state()
    still = any(m["userid"] == CUSTOMER for m in state["customer_groups"][CUSTOMER_CHAT]["members"])
    answer = f"{'yes' if still else 'NO'}; {second['status']}"
    story.line("陈先生 still in 华东客户服务群; status of the violation", answer)
    if not still or second["status"] != "open":
        story.fail("the customer stays and the advice waits for the owner (status open)")


def _evasion(story: Story, c: ContentStory) -> None:
    story.chapter("周八 disguises the ad: spaced homophones, full-width digits, traditional characters")
    v = c.decision(c.write("zhouba", SALES, EVASION), "zhouba")
    if not (c.expect(v, "C1", "warn") and v is not None):
        return
    words = v["reason"].split("：", 1)[-1]
    story.line("matched", f"{v['matched']}")
    story.line(f"  reason: {words}")
    text = c.show(_act(v, "send_private_message", "zhouba"), "private warning to 周八", "C1", "命中")
    if "薇" not in (v["matched"] or "") or "C1" not in text:
        story.fail("the disguised contact (加 薇 信) is the matched evidence and the warning quotes C1")


def _quiet_hours(story: Story, c: ContentStory) -> None:
    story.chapter("孙七 posts in quiet hours (C7): a private reminder, no strike")
    now = datetime.fromtimestamp(c.state()["now"] + NOTIFY_GAP_S, c.tz)
    window = {
        "start": (now - timedelta(minutes=30)).strftime("%H:%M"),
        "end": (now + timedelta(minutes=30)).strftime("%H:%M"),
    }
    story.line("the admin makes the hour around now quiet (the story must not depend on the clock)")
    if not c.quiet_hours(SALES, window):
        return
    v = c.decision(c.write("sunqi", SALES, WORK), "sunqi")
    if not (c.expect(v, "C7", "remind") and v is not None):
        return
    text = c.show(_act(v, "send_private_message", "sunqi"), "reminder to 孙七", "C7")
    strikes = c.admin.get("/api/v1/strikes", params={"member": "sunqi"}).json()["items"]
    story.line("孙七's strikes (GET /api/v1/strikes)", str(len(strikes)))
    if "C7" not in text or strikes:
        story.fail("the reminder quotes C7 and leaves no strike")


def _summary(story: Story, c: ContentStory) -> None:
    story.chapter("What the service recorded (GET /api/v1/violations)")
    items = c.admin.get("/api/v1/violations", params={"limit": 50}).json()["items"]
    for v in reversed(items):
        story.line(
            f"#{v['id']} {_name(v['chat_id'])} {_name(v['member'])} {v['rule_id']} {v['verdict']}",
            f"{v['status']}, acts {v['actions'] or '—'}",
        )
    strikes = c.admin.get("/api/v1/strikes", params={"limit": 50}).json()["items"]
    active = Counter(_name(s["member"]) for s in strikes if s["active"])
    story.line(
        "active strikes (GET /api/v1/strikes)", ", ".join(f"{who} {n}" for who, n in active.items()) or "none"
    )
