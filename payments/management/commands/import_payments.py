import codecs
import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mysite.commands import timeout_argument, wait_with_progress
from payments import selectors, services
from payments.models import Account, Payment

REQUIRED = ("from", "to", "amount")
OPTIONAL = ("currency", "description", "key")
PROGRESS_EVERY = 500
APPLIED = (Payment.Status.COMPLETED, Payment.Status.REFUNDED)
READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Row:
    """A row that passed every check: what ``services.payment_create`` gets."""

    line: int
    payer_id: int
    key: str
    request: services.PaymentRequest


def file_read(path: str) -> tuple[str, str]:
    """The file's SHA-256 and its text, or a ``CommandError`` a person can act on.

    Read in chunks, and stopped as soon as it is plainly no CSV: past
    ``IMPORT_MAX_BYTES``, a NUL byte, or bytes that are not UTF-8 (so
    ``/dev/zero`` or a picture is refused after its first chunk, not read whole).
    """
    limit = settings.IMPORT_MAX_BYTES
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    parts: list[str] = []
    size = 0
    try:
        with Path(path).open("rb") as file:
            while chunk := file.read(READ_CHUNK):
                start, size = size, size + len(chunk)
                if size > limit:
                    raise CommandError(
                        f"{path} is larger than {limit:,} bytes (IMPORT_MAX_BYTES): "
                        "split it into smaller files."
                    )
                if (nul := chunk.find(b"\0")) >= 0:
                    raise CommandError(
                        f"{path} is not a text file (a NUL byte at byte {start + nul}): "
                        "expected a UTF-8 CSV."
                    )
                pending = len(decoder.getstate()[0])
                try:
                    parts.append(decoder.decode(chunk))
                except UnicodeDecodeError as exc:
                    raise not_utf8(path, start - pending + exc.start) from None
                digest.update(chunk)
            try:
                parts.append(decoder.decode(b"", final=True))
            except UnicodeDecodeError as exc:
                raise not_utf8(path, size - len(exc.object) + exc.start) from None
    except FileNotFoundError:
        raise CommandError(f"No file {path}.") from None
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
    text = "".join(parts).removeprefix("\ufeff")  # a byte order mark (Excel) is not a name
    if not text.strip():
        raise CommandError(f"{path} is empty: expected the header {','.join(REQUIRED)}.")
    return digest.hexdigest(), text


def not_utf8(path: str, offset: int) -> CommandError:
    return CommandError(f"{path} is not UTF-8 text (byte {offset}): save it as UTF-8 CSV.")


def csv_parse(path: str, text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header, and each non-blank row as (line number, fields).

    Line numbers are the file's, the header's is 1; a row spanning lines (a
    quoted line break) has the number of its first line.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader)]
        rows = []
        last = reader.line_num
        for fields in reader:
            line, last = last + 1, reader.line_num
            if "".join(fields).strip():  # not a blank line
                rows.append((line, fields))
    except csv.Error as exc:
        raise CommandError(f"{path}, line {reader.line_num}: {exc}.") from None
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise CommandError(
            f"Line 1 of {path} must be the header {','.join(REQUIRED)} (optional columns: "
            f"{', '.join(OPTIONAL)}); it has no {', '.join(missing)}: "
            f"{text.splitlines()[0][:80]!r}."
        )
    unknown = [name for name in header if name not in REQUIRED + OPTIONAL]
    if unknown:
        raise CommandError(
            f"Unknown column(s) {', '.join(map(repr, unknown))} in the header of {path}: "
            f"use {', '.join(REQUIRED + OPTIONAL)}."
        )
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise CommandError(f"Column(s) {', '.join(twice)} twice in the header of {path}.")
    return header, rows


def row_values(header: list[str], fields: list[str]) -> dict[str, str]:
    """The row as {column: value}, values stripped; every column present."""
    if len(fields) != len(header):
        raise services.PaymentRejected(
            f"{len(fields)} values, but the header names {len(header)} columns."
        )
    values = {name: value.strip() for name, value in zip(header, fields, strict=True)}
    for name in REQUIRED:
        if not values[name]:
            raise services.PaymentRejected(f"'{name}' is empty.")
    return {"currency": "", "description": "", "key": "", **values}


def row_check(
    line: int,
    values: dict[str, str],
    *,
    key: str,
    account: Callable[[str, str], Account],
    earlier: dict[tuple[int, str], Payment],
) -> Row:
    """The checks of ``services.payment_create`` (user=None), in its order, without
    writing: a row that passes is created or replayed, not refused."""
    amount = services.amount_parse(values["amount"])
    key = services.key_check(key)
    payer = account(values["from"], "payer")
    wanted = services.PaymentRequest.asked(
        payer=payer,
        payee_id=values["to"],
        amount=amount,
        currency=values["currency"],
        description=values["description"],
    )
    if (payment := earlier.get((payer.pk, key))) is not None:
        services.payment_replay(payment, wanted)
        return Row(line, payer.pk, key, wanted)  # made before: payment_create returns it
    payee = account(values["to"], "payee")
    services.payment_request_check(payer=payer, payee=payee, currency=wanted.currency)
    return Row(line, payer.pk, key, wanted)


class Command(BaseCommand):
    help = (
        "Pay every row of a CSV file (header from,to,amount; optional currency, "
        "description, key). Every row is checked first and bad ones are listed; "
        "the good ones are queued even so, and the exit code says some were refused. "
        "A row without a key gets one from the file's content and its line, so "
        "importing the same file again pays nothing twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", metavar="FILE", help="CSV file, UTF-8")
        parser.add_argument("--wait", action="store_true", help="wait until all are final")
        timeout_argument(parser)

    def handle(self, *args, path, wait, timeout, **options):
        digest, text = file_read(path)
        header, lines = csv_parse(path, text)
        if not lines:
            self.stdout.write(f"{path} has no rows after its header: nothing to pay.")
            return
        prefix = f"import-{digest[:16]}"
        rows, rejected = self._check(header, lines, prefix)
        for line, reason in rejected:
            self.stderr.write(f"line {line}: {reason}")

        payments, rejected_late, replayed = self._create(rows)
        rejected += rejected_late
        for line, reason in rejected_late:
            self.stderr.write(f"line {line}: {reason}")
        queued = len(rows) - len(rejected_late)
        already = f" ({replayed} already made: same key)" if replayed else ""
        new = queued - replayed
        self.stdout.write(f"{new} payment{'' if new == 1 else 's'} queued{already}.")

        failed = self._wait(payments, timeout) if wait and payments else 0
        problems = []
        if rejected:
            problems.append(
                f"{len(rejected)} of {len(lines)} rows were rejected; "
                f"the other {queued} were queued{already}."
            )
            if any(row.key.startswith(prefix) for row in rows):
                self.stderr.write(
                    "Put the corrected rows in a new file: this one, edited, would pay its "
                    "good rows again (a row without a key gets one from the file's content)."
                )
        if failed:
            problems.append(f"{failed} of {len(payments)} payments failed.")
        if problems:
            raise CommandError(" ".join(problems))

    def _check(self, header, lines, prefix) -> tuple[list[Row], list[tuple[int, str]]]:
        """Every row checked before any is paid: (good rows, [(line, reason)])."""
        found: dict[tuple[str, str], Account | str] = {}

        def account(raw: str, role: str) -> Account:
            if (raw, role) not in found:
                try:
                    found[raw, role] = services.account_get(raw, role=role)
                except services.PaymentRejected as exc:
                    found[raw, role] = str(exc)
            known = found[raw, role]
            if isinstance(known, str):
                raise services.PaymentRejected(known)
            return known

        keys = {}
        values = {}
        rejected = []
        for line, fields in lines:
            try:
                values[line] = row_values(header, fields)
            except services.PaymentRejected as exc:
                rejected.append((line, str(exc)))
                continue
            keys[line] = values[line]["key"] or f"{prefix}-{line}"
        earlier = selectors.payment_map_by_key(keys=list(keys.values()))

        rows = []
        seen: dict[tuple[int, str], Row] = {}
        for line, row_fields in values.items():
            try:
                row = row_check(line, row_fields, key=keys[line], account=account, earlier=earlier)
            except services.PaymentRejected as exc:
                rejected.append((line, str(exc)))
                continue
            first = seen.setdefault((row.payer_id, row.key), row)
            if first.request != row.request:
                rejected.append(
                    (line, f"The key {row.key!r} is on line {first.line} for another payment.")
                )
                continue
            rows.append(row)
        rejected.sort()
        return rows, rejected

    def _create(self, rows: list[Row]) -> tuple[dict[int, int], list[tuple[int, str]], int]:
        """Create and queue each row's payment: ({payment id: line}, [(line, reason)],
        how many were made before)."""
        payments: dict[int, int] = {}
        rejected = []
        replayed = 0
        for done, row in enumerate(rows, start=1):
            try:
                payment, created = services.payment_create(
                    payer_id=row.payer_id,
                    payee_id=row.request.payee_id,
                    amount=row.request.amount,
                    idempotency_key=row.key,
                    currency=row.request.currency,
                    description=row.request.description,
                )
            except services.PaymentRejected as exc:  # changed since the check
                rejected.append((row.line, str(exc)))
            else:
                replayed += not created
                payments.setdefault(payment.pk, row.line)
            if done % PROGRESS_EVERY == 0 or done == len(rows):
                self.stdout.write(f"queued {done:,}/{len(rows):,}")
        return payments, rejected, replayed

    def _wait(self, payments: dict[int, int], timeout: float) -> int:
        """Wait until every payment is final; list the failed ones; how many failed."""
        ids = sorted(payments)

        def check():
            counts = selectors.payment_status_counts(ids=ids)
            completed = sum(counts[status] for status in APPLIED)
            failed, pending = counts[Payment.Status.FAILED], counts[Payment.Status.PENDING]
            return f"completed {completed}, failed {failed}, pending {pending}", not pending

        line = wait_with_progress(self.stdout, check, timeout=timeout, what="import")
        failed = selectors.payment_list_failed(ids=ids)
        for payment in sorted(failed, key=lambda payment: payments[payment.pk]):
            self.stderr.write(
                f"line {payments[payment.pk]}: payment {payment.pk} failed: "
                f"{payment.failure_reason}"
            )
        if not failed:
            self.stdout.write(self.style.SUCCESS(f"All final: {line}."))
        return len(failed)
