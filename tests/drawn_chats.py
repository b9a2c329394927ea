"""Chat screenshots (issue 18): phone chats of one app per family (1080×2340 or 750×1334); most members are
other conversations, some share one and differ in one message or in the clock's digits."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from drawing import Drawn, font, words

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class ChatStyle:
    """A chat app's look: screen size, pixels per point, colours (RGB) and bar heights (points)."""

    size: tuple[int, int]
    scale: float
    background: tuple[int, int, int]
    mine: tuple[int, int, int]
    mine_text: tuple[int, int, int]
    theirs: tuple[int, int, int]
    bar: tuple[int, int, int]
    bar_text: tuple[int, int, int]
    accent: tuple[int, int, int]
    times: bool  # a time in every bubble
    status_pt: int = 47
    header_pt: int = 56
    input_pt: int = 60


CHAT_STYLES = {
    # white with blue and grey bubbles at 3 px a point, the iPhone look
    "chat-bubbles": ChatStyle(
        size=(1080, 2340),
        scale=3.0,
        background=(255, 255, 255),
        mine=(10, 132, 255),
        mine_text=(255, 255, 255),
        theirs=(233, 233, 235),
        bar=(248, 248, 248),
        bar_text=(0, 0, 0),
        accent=(10, 132, 255),
        times=False,
    ),
    # beige with green and white bubbles, a green header, times in the bubbles, at 2 px a point
    "chat-green": ChatStyle(
        size=(750, 1334),
        scale=2.0,
        background=(236, 229, 221),
        mine=(217, 253, 211),
        mine_text=(17, 17, 17),
        theirs=(255, 255, 255),
        bar=(0, 128, 105),
        bar_text=(255, 255, 255),
        accent=(0, 168, 132),
        times=True,
        status_pt=22,
    ),
}


@dataclass(frozen=True)
class Conversation:
    """Who the chat is with, and its messages as (sent by me, text, "hh:mm"), oldest first."""

    contact: str
    avatar: tuple[int, int, int]
    messages: tuple[tuple[bool, str, str], ...]


def message_text(rng: random.Random) -> str:
    n = rng.choice((1, 2, 3, 3, 4, 5, 6, 8, 10, 12, 16, 22))
    text = " ".join(words(rng, n)).capitalize()
    return text if text[-1] in ",." else text + rng.choice(("", "", ".", "?", "!"))


def conversation(rng: random.Random, n: int = 24) -> Conversation:
    """A random conversation of ``n`` messages with a random contact."""
    contact = " ".join(w.strip(",.").title() for w in words(rng, 2))
    avatar = rng.choice(((229, 115, 115), (100, 181, 246), (129, 199, 132), (255, 183, 77), (149, 117, 205)))
    minute = rng.randint(8 * 60, 20 * 60)
    messages = []
    mine = rng.random() < 0.5
    for _ in range(n):
        mine = mine if rng.random() < 0.4 else not mine
        minute += rng.choice((0, 0, 1, 1, 2, 5))
        messages.append((mine, message_text(rng), f"{minute // 60:02d}:{minute % 60:02d}"))
    return Conversation(contact, avatar, tuple(messages))


def wrap(draw: Any, text: str, f: Any, width: float) -> list[str]:
    """``text`` broken into lines no wider than ``width`` pixels (a longer word keeps a line of its own)."""
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=f) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines


def chat(style: ChatStyle, convo: Conversation, clock: str) -> Image.Image:
    """A screenshot of ``convo`` in ``style``: status bar with ``clock``, header with the contact, message
    bubbles anchored at the bottom (the newest last), the input bar."""
    from PIL import Image, ImageDraw

    s = style.scale
    w, h = style.size
    img = Image.new("RGB", style.size, style.background)
    d = ImageDraw.Draw(img)
    body, small = font("DejaVuSans.ttf", round(16 * s)), font("DejaVuSans.ttf", round(11 * s))
    line_h, pad_x, pad_y = round(21 * s), round(12 * s), round(8 * s)
    top = round((style.status_pt + style.header_pt) * s)
    bottom = h - round(style.input_pt * s) - round(8 * s)
    previous = None
    for mine, text, hhmm in reversed(convo.messages):
        if bottom < top:
            break
        lines = wrap(d, text, body, w * 0.68)
        text_w = max(d.textlength(line, font=body) for line in lines)
        extra = round(14 * s) if style.times else 0
        bw = max(text_w, d.textlength(hhmm, font=small) if style.times else 0) + 2 * pad_x
        bh = len(lines) * line_h + 2 * pad_y + extra
        bottom -= round((3 if previous in (None, mine) else 12) * s)
        x0 = w - round(10 * s) - bw if mine else round(10 * s)
        d.rounded_rectangle(
            (x0, bottom - bh, x0 + bw, bottom), round(17 * s), fill=style.mine if mine else style.theirs
        )
        colour = style.mine_text if mine else (17, 17, 17)
        for i, line in enumerate(lines):
            d.text((x0 + pad_x, bottom - bh + pad_y + i * line_h), line, fill=colour, font=body)
        if style.times:
            d.text((x0 + bw - pad_x, bottom - pad_y), hhmm, fill=(110, 120, 110), font=small, anchor="rd")
        bottom -= bh
        previous = mine
    # the bars are drawn last, over the bubbles that scrolled under them
    d.rectangle((0, 0, w, top), fill=style.bar)
    d.line((0, top, w, top), fill=(210, 210, 210), width=max(1, round(s / 2)))
    bold = font("DejaVuSans-Bold.ttf", round(15 * s))
    sy = round(style.status_pt * s / 2)
    d.text((round(24 * s), sy), clock, fill=style.bar_text, font=bold, anchor="lm")
    for i in range(4):  # signal, wifi, battery
        x = w - round((96 - 6 * i) * s)
        d.rectangle(
            (x, sy + round((4 - 2 * i) * s), x + round(4 * s), sy + round(6 * s)), fill=style.bar_text
        )
    cx = w - round(56 * s)
    d.pieslice((cx - 9 * s, sy - 6 * s, cx + 9 * s, sy + 12 * s), 225, 315, fill=style.bar_text)
    d.rounded_rectangle(
        (w - 40 * s, sy - 6 * s, w - 14 * s, sy + 6 * s), 3 * s, outline=style.bar_text, width=round(s)
    )
    d.rectangle((w - 38 * s, sy - 4 * s, w - 22 * s, sy + 4 * s), fill=style.bar_text)
    hy = round((style.status_pt + style.header_pt / 2) * s)
    back = style.accent if style.bar_text == (0, 0, 0) else style.bar_text
    d.line(((22 * s, hy - 9 * s), (13 * s, hy), (22 * s, hy + 9 * s)), fill=back, width=round(3 * s))
    d.ellipse((36 * s, hy - 18 * s, 72 * s, hy + 18 * s), fill=convo.avatar)
    initials = "".join(part[0] for part in convo.contact.split()[:2])
    d.text((54 * s, hy), initials, fill="white", font=font("DejaVuSans-Bold.ttf", round(14 * s)), anchor="mm")
    d.text((82 * s, hy - 2 * s), convo.contact, fill=style.bar_text, font=bold, anchor="ld")
    d.text((82 * s, hy + 2 * s), "online", fill=style.bar_text, font=small, anchor="la")
    iy = h - round(style.input_pt * s)
    d.rectangle((0, iy, w, h), fill=style.bar if style.bar_text == (0, 0, 0) else (240, 240, 240))
    d.rounded_rectangle(
        (44 * s, iy + 10 * s, w - 52 * s, iy + 42 * s), 16 * s, fill="white", outline=(200, 200, 205)
    )
    d.text((60 * s, iy + 26 * s), "Message", fill=(150, 150, 155), font=body, anchor="lm")
    d.text(
        (22 * s, iy + 26 * s), "+", fill=style.accent, font=font("DejaVuSans.ttf", round(26 * s)), anchor="mm"
    )
    d.ellipse((w - 44 * s, iy + 10 * s, w - 12 * s, iy + 42 * s), fill=style.accent)
    d.polygon(((w - 34 * s, iy + 18 * s), (w - 34 * s, iy + 34 * s), (w - 20 * s, iy + 26 * s)), fill="white")
    if h > 2 * w:  # the home indicator of the tall phones
        d.rounded_rectangle((w / 2 - 67 * s, h - 9 * s, w / 2 + 67 * s, h - 4 * s), 3 * s, fill=(20, 20, 20))
    return img


def draw(rng: random.Random, per_family: int = 8) -> list[Drawn]:
    """Per chat style, ``per_family`` screenshots: other conversations, then (with ≥ 3 members) the first
    conversation again with one digit of the clock changed, and the second with one visible message changed
    (to other words that wrap to as many lines). Each of those two pairs is a spot group (``conversation 0``:
    the clock; ``conversation 1``: one message); the other conversations differ all over."""
    from PIL import Image, ImageDraw

    out = []
    for family, style in CHAT_STYLES.items():
        distinct = per_family - 2 if per_family >= 3 else per_family
        convos = [conversation(rng) for _ in range(distinct)]
        clocks = [f"{rng.randint(7, 22)}:{rng.randint(10, 59)}" for _ in range(distinct)]
        groups = [f"conversation {k}" if per_family >= 3 and k < 2 else "" for k in range(distinct)]
        out += [
            Drawn(family, chat(style, c, t), "another conversation", g)
            for c, t, g in zip(convos, clocks, groups, strict=True)
        ]
        if per_family < 3:
            continue
        later = clocks[0][:-1] + rng.choice([d for d in "0123456789" if d != clocks[0][-1]])
        note = f"member 0 at {later} instead of {clocks[0]}"
        out.append(Drawn(family, chat(style, convos[0], later), note, "conversation 0"))
        probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
        body = font("DejaVuSans.ttf", round(16 * style.scale))
        k = len(convos[1].messages) - rng.randint(1, 4)
        mine, text, hhmm = convos[1].messages[k]
        width = style.size[0] * 0.68
        for _ in range(200):
            other = message_text(rng)
            if other != text and len(wrap(probe, other, body, width)) == len(wrap(probe, text, body, width)):
                break
        messages = list(convos[1].messages)
        messages[k] = (mine, other, hhmm)
        changed = replace(convos[1], messages=tuple(messages))
        note = f"member 1 with message {k} ({text!r}) → {other!r}"
        out.append(Drawn(family, chat(style, changed, clocks[1]), note, "conversation 1"))
    return out


def chats(rng: random.Random, per_family: int = 8) -> list[tuple[str, Image.Image, str]]:
    """The chat screenshots of :func:`draw` as (family, image, note)."""
    return [d.triple for d in draw(rng, per_family)]
