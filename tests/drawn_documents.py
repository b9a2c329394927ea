"""Receipts and invoices (issue 18): families of one template whose members differ in 1–4 digits.

Thermal receipts (80 mm: 576 px wide, 58 mm: 384 px, at 203 dpi) and A4 invoices (1240×1754) of one template
per family; two members differ ONLY in 1–4 digits (a total, a date, a time, an invoice number, a quantity),
each digit string keeping its length, so all else is pixel-identical. :class:`Spot` names a digit that may
change; :func:`document_members` draws a family's fields; :func:`draw` the families.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drawing import Drawn, font, words

if TYPE_CHECKING:
    from PIL import Image


PAPER, INK = (253, 253, 251), (22, 22, 22)


@dataclass(frozen=True)
class Spot:
    """A digit that may change between members of a document family: ``fields[field][index]``, to one of
    ``digits``. A changed digit keeps every string's length, so the rest of the page stays pixel-identical."""

    field: str
    index: int
    digits: str = "0123456789"


def mutated(
    fields: Mapping[str, str], spots: Sequence[Spot], rng: random.Random, n: int
) -> tuple[dict[str, str], str]:
    """``fields`` with ``n`` of the ``spots`` changed to another digit, and a note saying which."""
    out = dict(fields)
    notes = []
    for spot in rng.sample(list(spots), n):
        text = out[spot.field]
        digit = rng.choice([d for d in spot.digits if d != text[spot.index]])
        out[spot.field] = text[: spot.index] + digit + text[spot.index + 1 :]
        notes.append(f"{spot.field} {text}→{out[spot.field]}")
    return out, "; ".join(notes)


def digits_apart(a: Mapping[str, str], b: Mapping[str, str]) -> int:
    """How many characters differ between two members' fields (all of them digits, by construction)."""
    return sum(x != y for k in a for x, y in zip(a[k], b[k], strict=True))


def document_members(
    base: Mapping[str, str], spots: Sequence[Spot], first: Spot, n: int, rng: random.Random
) -> list[tuple[dict[str, str], str]]:
    """``n`` members of a document family: ``base``; ``base`` with the ``first`` spot changed (e.g. one digit
    of the total); then members with one or two random spots changed. Every two differ in 1–4 digits."""
    members: list[tuple[dict[str, str], str]] = [(dict(base), "the family's first member")]
    if n > 1:
        fields, note = mutated(base, [first], rng, 1)
        members.append((fields, f"member 0 with {note}"))
    while len(members) < n:
        fields, note = mutated(base, spots, rng, rng.choice((1, 2)))
        if all(fields != m for m, _ in members):
            members.append((fields, f"member 0 with {note}"))
    for i, (a, _) in enumerate(members):
        for b, _ in members[:i]:
            assert 1 <= digits_apart(a, b) <= 4, (a, b)
    return members


def _money(v: float) -> str:
    return f"{v:,.2f}"


def _number_spots(field: str, text: str) -> list[Spot]:
    """Every digit of a number but the first (a changed first digit could become a leading zero)."""
    return [Spot(field, i) for i, ch in enumerate(text) if ch.isdigit() and i > 0]


@dataclass(frozen=True)
class ReceiptStyle:
    """A thermal till roll at 203 dpi: 80 mm paper prints 576 px, 58 mm paper 384 px."""

    width: int
    items: int
    font_px: int
    title_px: int
    margin: int
    two_line_items: bool


RECEIPT_STYLES = {
    "receipt80": ReceiptStyle(576, 17, 24, 46, 20, two_line_items=False),
    "receipt58": ReceiptStyle(384, 9, 20, 34, 14, two_line_items=True),
}


def receipt_fields(style: ReceiptStyle, rng: random.Random) -> dict[str, str]:
    """A receipt's text: a shop, the date and time, items with prices, subtotal, tax and total."""
    title = font("DejaVuSansMono-Bold.ttf", style.title_px)
    f = {
        "shop": " ".join(words(rng, 2))
        .replace(",", "")
        .replace(".", "")
        .upper()[: int((style.width - 2 * style.margin) // title.getlength("0"))],
        "street": f"{rng.randint(10, 999)} {words(rng, 1)[0].strip(',.').title()} Street",
        "city": f"{words(rng, 1)[0].strip(',.').title()} {rng.randint(10000, 99999)}",
        "phone": f"TEL {rng.randint(100, 999)}-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
        "date": f"2024-{rng.randint(1, 12):02d}-{rng.randint(10, 28)}",  # day 10–28: any last digit is a day
        "time": f"{rng.randint(8, 21):02d}:{rng.randint(0, 59):02d}",
        "no": f"{rng.randint(100000, 999999)}",
        "till": str(rng.randint(1, 9)),
        "cashier": words(rng, 1)[0].strip(",.").upper()[:10],
        "card": f"{rng.randint(1000, 9999)}",
        "auth": f"{rng.randint(100000, 999999)}",
        "barcode": "".join(rng.choice("01") for _ in range(60)),
    }
    subtotal = 0.0
    for k in range(style.items):
        qty, price = rng.choice((1, 1, 1, 2, 2, 3, 4)), round(rng.uniform(0.49, 12.99), 2)
        subtotal += qty * price
        name = " ".join(words(rng, rng.choice((1, 2)))).replace(",", "").replace(".", "").upper()
        f |= {f"item{k}": name[:16], f"qty{k}": str(qty), f"price{k}": f"{price:.2f}"}
        f[f"amount{k}"] = f"{qty * price:.2f}"
    tax = subtotal * 0.08
    f |= {"subtotal": _money(subtotal), "tax": _money(tax), "total": _money(subtotal + tax)}
    return f


def receipt_spots(f: Mapping[str, str], style: ReceiptStyle) -> tuple[list[Spot], Spot]:
    """The digits members may differ in (total, date, time, receipt number, quantities), and the units digit
    of the total: the member that differs from the first in that digit alone."""
    spots = [*_number_spots("total", f["total"]), Spot("date", 9), Spot("time", 4)]
    spots += [Spot("no", i) for i in (3, 4, 5)]
    spots += [Spot(f"qty{k}", 0, "1234") for k in range(style.items)]
    units = len(f["total"]) - 4  # "23.45": the 3
    return spots, Spot("total", units if units > 0 else len(f["total"]) - 1)


def bars(draw: Any, bits: str, x: float, y: float, module: float, height: float) -> None:
    """Black bars for the 1s of ``bits``, ``module`` px each, from (x, y) down ``height`` px."""
    for i, bit in enumerate(bits):
        if bit == "1":
            draw.rectangle((round(x + i * module), y, round(x + (i + 1) * module) - 1, y + height), fill=INK)


def receipt(style: ReceiptStyle, f: Mapping[str, str]) -> Image.Image:
    """A till receipt in ``style`` with the text of ``f`` (see :func:`receipt_fields`)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (style.width, 4000), PAPER)
    d = ImageDraw.Draw(img)
    mono, bold = font("DejaVuSansMono.ttf", style.font_px), font("DejaVuSansMono-Bold.ttf", style.font_px)
    big = font("DejaVuSansMono-Bold.ttf", style.title_px)
    total_font = font("DejaVuSansMono-Bold.ttf", round(style.title_px * 0.75))
    step = round(style.font_px * 1.35)
    left, right, mid = style.margin, style.width - style.margin, style.width // 2
    cw = mono.getlength("0")
    dashes = "-" * int((right - left) // cw)
    y: float = style.margin + 12

    def row(y: float, a: str, b: str = "", face: Any = mono) -> float:
        d.text((left, y), a, fill=INK, font=face)
        if b:
            d.text((right, y), b, fill=INK, font=face, anchor="ra")
        return y + step

    def centre(y: float, text: str, face: Any = mono, gap: float = 1.0) -> float:
        d.text((mid, y), text, fill=INK, font=face, anchor="ma")
        return y + step * gap

    y = centre(y, f["shop"], big, 1.6)
    for key in ("street", "city", "phone"):
        y = centre(y, f[key])
    y = row(y, dashes)
    y = row(y, f"DATE {f['date']}", f"TIME {f['time']}")
    y = row(y, f"RECEIPT {f['no']}", f"TILL {f['till']}")
    y = row(y, f"CASHIER {f['cashier']}")
    y = row(y, dashes)
    for k in range(style.items):
        each = f"{f[f'qty{k}']} x {f[f'price{k}']}"
        if style.two_line_items:
            y = row(y, f[f"item{k}"])
            y = row(y, f"  {each}", f[f"amount{k}"])
        else:
            d.text((right - 9 * cw, y), each, fill=INK, font=mono, anchor="ra")
            y = row(y, f[f"item{k}"], f[f"amount{k}"])
    y = row(y, dashes)
    y = row(y, "SUBTOTAL", f["subtotal"])
    y = row(y, "TAX 8%", f["tax"])
    y = row(y + step * 0.3, "TOTAL", f["total"], total_font) + step * 0.5
    y = row(y, dashes)
    y = row(y, f"CARD ****{f['card']}", "APPROVED", bold)
    y = row(y, f"AUTH CODE {f['auth']}")
    y = row(y, dashes) + step * 0.5
    y = centre(y, "THANK YOU FOR SHOPPING")
    y = centre(y, "PLEASE KEEP YOUR RECEIPT", gap=1.6)
    module = (right - left) * 0.8 / len(f["barcode"])
    bars(d, f["barcode"], mid - module * len(f["barcode"]) / 2, y, module, step * 2.5)
    return img.crop((0, 0, style.width, round(y + step * 2.5 + style.margin * 3)))


def invoice_fields(rng: random.Random, rows: int = 9) -> dict[str, str]:
    """An invoice's text: the seller, the client, numbers and dates, ``rows`` lines of items, the totals."""
    name = " ".join(words(rng, 2)).replace(",", "").replace(".", "").title()
    f = {
        "company": f"{name} Ltd",
        "initials": "".join(w[0] for w in name.split()[:2]).upper(),
        "address": f"{rng.randint(1, 99)} {words(rng, 1)[0].strip(',.').title()} Road, "
        f"{words(rng, 1)[0].strip(',.').title()}",
        "contact": f"+44 {rng.randint(1000, 9999)} {rng.randint(100000, 999999)}",
        "client": " ".join(words(rng, 2)).replace(",", "").replace(".", "").title(),
        "client_co": " ".join(words(rng, 2)).replace(",", "").replace(".", "").title() + " GmbH",
        "client_street": f"{words(rng, 1)[0].strip(',.').title()}strasse {rng.randint(1, 99)}",
        "client_city": f"{rng.randint(10000, 99999)} {words(rng, 1)[0].strip(',.').title()}",
        "no": f"INV-2024-{rng.randint(100, 999):05d}",
        "date": f"{rng.randint(10, 28)}/{rng.randint(1, 9):02d}/2024",
        "due": f"{rng.randint(10, 28)}/{rng.randint(10, 12):02d}/2024",
        "iban": "GB{:02d} {} {:04d} {:04d} {:04d} {:02d}".format(
            rng.randint(10, 99),
            "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(4)),
            *(rng.randint(1000, 9999) for _ in range(3)),
            rng.randint(10, 99),
        ),
    }
    subtotal = 0.0
    for k in range(rows):
        qty, unit = rng.randint(1, 9), round(rng.uniform(20, 900), 2)
        subtotal += qty * unit
        f |= {
            f"desc{k}": " ".join(words(rng, rng.randint(2, 4))).replace(",", "").replace(".", "").capitalize()
        }
        f |= {f"qty{k}": str(qty), f"unit{k}": _money(unit), f"amount{k}": _money(qty * unit)}
    vat = subtotal * 0.2
    return f | {"subtotal": _money(subtotal), "vat": _money(vat), "total": _money(subtotal + vat)}


def invoice_spots(f: Mapping[str, str], rows: int = 9) -> tuple[list[Spot], Spot]:
    """The digits invoices of one family may differ in: total, invoice number, dates, quantities."""
    spots = _number_spots("total", f["total"]) + [Spot("no", i) for i in (12, 13)]
    spots += [Spot("date", 1), Spot("due", 1)] + [Spot(f"qty{k}", 0, "123456789") for k in range(rows)]
    return spots, Spot("total", len(f["total"]) - 4)


def invoice(f: Mapping[str, str], rows: int = 9, accent: tuple[int, int, int] = (32, 84, 147)) -> Image.Image:
    """An A4 invoice at 150 dpi (1240×1754) with the text of ``f`` (see :func:`invoice_fields`)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (1240, 1754), "white")
    d = ImageDraw.Draw(img)
    sans, bold = font("DejaVuSans.ttf", 22), font("DejaVuSans-Bold.ttf", 22)
    grey = (95, 95, 100)
    d.rectangle((100, 100, 210, 210), fill=accent)
    d.text((155, 155), f["initials"], fill="white", font=font("DejaVuSans-Bold.ttf", 48), anchor="mm")
    d.text((240, 104), f["company"], fill=(20, 20, 20), font=font("DejaVuSans-Bold.ttf", 34))
    d.text((240, 152), f["address"], fill=grey, font=sans)
    d.text((240, 182), f["contact"], fill=grey, font=sans)
    d.text((1140, 240), "INVOICE", fill=accent, font=font("DejaVuSans-Bold.ttf", 56), anchor="ra")
    for i, (label, key) in enumerate((("Invoice no.", "no"), ("Date", "date"), ("Due date", "due"))):
        d.text((780, 330 + 36 * i), label, fill=grey, font=sans)
        d.text((1140, 330 + 36 * i), f[key], fill=(20, 20, 20), font=bold, anchor="ra")
    d.text((100, 330), "BILL TO", fill=accent, font=bold)
    for i, key in enumerate(("client", "client_co", "client_street", "client_city")):
        d.text((100, 366 + 34 * i), f[key], fill=(20, 20, 20), font=bold if i == 0 else sans)
    top = 560
    d.rectangle((100, top, 1140, top + 52), fill=(226, 234, 245))
    columns = (
        ("Description", 120, "la"),
        ("Qty", 760, "ra"),
        ("Unit price", 940, "ra"),
        ("Amount", 1120, "ra"),
    )
    for label, x, anchor in columns:
        d.text((x, top + 14), label, fill=(20, 20, 20), font=bold, anchor=anchor)
    for k in range(rows):
        y = top + 52 + 58 * k
        for key, (_, x, anchor) in zip(("desc", "qty", "unit", "amount"), columns, strict=True):
            d.text((x, y + 17), f[f"{key}{k}"], fill=(30, 30, 30), font=sans, anchor=anchor)
        d.line((100, y + 58, 1140, y + 58), fill=(215, 215, 220), width=1)
    y = top + 52 + 58 * rows + 40
    for label, key in (("Subtotal", "subtotal"), ("VAT 20%", "vat")):
        d.text((780, y), label, fill=grey, font=sans)
        d.text((1120, y), f[key], fill=(20, 20, 20), font=sans, anchor="ra")
        y += 40
    d.line((760, y + 4, 1140, y + 4), fill=accent, width=3)
    d.text((780, y + 20), "Total due", fill=(20, 20, 20), font=font("DejaVuSans-Bold.ttf", 28))
    d.text((1120, y + 20), f["total"], fill=(20, 20, 20), font=font("DejaVuSans-Bold.ttf", 28), anchor="ra")
    d.text((100, 1480), "Payment terms: 30 days net. Please quote the invoice number.", fill=grey, font=sans)
    d.text((100, 1516), f"Bank transfer to IBAN {f['iban']}", fill=grey, font=sans)
    d.text((100, 1552), "Thank you for your business.", fill=(20, 20, 20), font=bold)
    d.line((100, 1640, 1140, 1640), fill=(215, 215, 220), width=2)
    d.text((100, 1656), f"{f['company']} · registered in England and Wales", fill=grey, font=sans)
    d.text((1140, 1656), "Page 1 of 1", fill=grey, font=sans, anchor="ra")
    return img


def draw(rng: random.Random, per_family: int = 7) -> list[Drawn]:
    """Three families of ``per_family`` documents: 80 mm receipts, 58 mm receipts and A4 invoices. Members 0
    and 1 of every family differ only in one digit of the total; all members of a family differ in 1–4
    digits only, so each family is one spot group (``digits``)."""
    out = []
    for name, style in RECEIPT_STYLES.items():
        base = receipt_fields(style, rng)
        spots, first = receipt_spots(base, style)
        for fields, note in document_members(base, spots, first, per_family, rng):
            out.append(Drawn(f"document-{name}", receipt(style, fields), note, "digits"))
    base = invoice_fields(rng)
    spots, first = invoice_spots(base)
    for fields, note in document_members(base, spots, first, per_family, rng):
        out.append(Drawn("document-invoice", invoice(fields), note, "digits"))
    return out


def documents(rng: random.Random, per_family: int = 7) -> list[tuple[str, Image.Image, str]]:
    """The documents of :func:`draw` as (family, image, note on how the member differs from the family's
    first)."""
    return [d.triple for d in draw(rng, per_family)]
