"""The payments commands: pay, import_payments, check_ledger and open_account.

Most run in a test transaction, so what they queue is never published: the
payments stay pending, which is what the checks look at. The --wait tests
run on the real worker.
"""

import hashlib
import re
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from payments import services
from payments.management.commands import import_payments
from payments.models import Account, LedgerEntry, Payment
from tests.helpers.payments import open_funded

HEADER = "from,to,amount,currency,description,key\n"


def customer_payments():
    return Payment.objects.exclude(description="Deposit")


def write_csv(tmp_path, text: str, name: str = "payments.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def key_prefix(path) -> str:
    return f"import-{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}"


# -- pay ------------------------------------------------------------------------


@pytest.mark.django_db
def test_pay_creates_a_pending_payment_and_prints_its_new_key(alice_account, bob_account, capsys):
    # when
    call_command(
        "pay",
        *("--from", str(alice_account.pk), "--to", str(bob_account.pk), "--amount", "12.50"),
        *("--description", "Lunch"),
    )

    # then
    payment = customer_payments().get()
    assert (payment.status, payment.amount, payment.currency, payment.description) == (
        "pending",
        Decimal("12.50"),
        "EUR",
        "Lunch",
    )
    assert payment.created_by is None
    assert payment.task_id
    assert re.fullmatch(r"[0-9a-f]{32}", payment.idempotency_key)
    out = capsys.readouterr().out
    assert out == (
        f"Payment {payment.pk} is pending: 12.50 EUR from #{alice_account.pk} "
        f"to #{bob_account.pk}, key {payment.idempotency_key}.\n"
        f"To repeat it safely (made once), run again with --key {payment.idempotency_key}.\n"
    )


@pytest.mark.django_db
def test_pay_again_with_the_same_key_is_the_same_payment(alice_account, bob_account, capsys):
    args = ["--from", str(alice_account.pk), "--to", str(bob_account.pk), "--amount", "5"]
    call_command("pay", *args, "--key", "invoice-7", "--currency", "EUR")

    # when
    call_command("pay", *args, "--key", "invoice-7")

    # then
    payment = customer_payments().get()
    out = capsys.readouterr().out.splitlines()
    line = (
        f"Payment {payment.pk} is pending: 5.00 EUR from #{alice_account.pk} to #{bob_account.pk}"
    )
    assert out == [f"{line}, key invoice-7.", f"{line}, key invoice-7 (already made: same key)."]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--amount", "0"], "The amount must be more than zero, got 0."),
        (["--amount", "-5"], "The amount must be more than zero, got -5."),
        (["--amount", "1.001"], "The amount 1.001 has more than 2 decimals."),
        (["--amount", "ten"], "'ten' is not an amount."),
        (["--amount", "1e400"], "'1e400' is not an amount."),
        (["--amount", "1E+30"], "'1E+30' is not an amount."),
        (["--amount", "\u0663"], "'\u0663' is not an amount."),
        (["--from", "\u00b2"], "The payer must be an account number, got '\u00b2'."),
        (["--to", "\u00b2"], "The payee must be an account number, got '\u00b2'."),
        (["--from", "9" * 30], "The payer must be an account number, got '999999999"),
        (["--from", "999999"], "No account #999999."),
        (["--from", "alice"], "The payer must be an account number, got 'alice'."),
        (["--to", "{alice}"], "The payer and the payee are the same account."),
        (["--to", "{usd}"], "Currency mismatch: the payment is in EUR, account #{usd} holds USD."),
        (["--to", "{closed}"], "Account #{closed} is closed."),
        (["--currency", "XYZ"], "Unknown currency 'XYZ': use EUR, USD, GBP, CHF."),
        (["--key", "has space"], "The idempotency key must be 1 to 64 letters"),
        (["--key", "taken"], "The idempotency key 'taken' was used for a different payment"),
        (["--description", "x" * 201], "The description is longer than 200 characters."),
    ],
)
def test_pay_refuses_bad_input_and_writes_nothing(
    other_user, alice_account, bob_account, args, message
):
    # given
    usd = open_funded(other_user, name="Dollars", currency="USD", deposit="0")
    closed = services.account_close(account=open_funded(other_user, name="Old", deposit="0"))
    services.payment_create(
        payer_id=alice_account.pk, payee_id=bob_account.pk, amount="1", idempotency_key="taken"
    )
    ids = {"alice": alice_account.pk, "usd": usd.pk, "closed": closed.pk}
    defaults = {"--from": str(alice_account.pk), "--to": str(bob_account.pk), "--amount": "2"}
    options = {**defaults, **dict(zip(args[::2], args[1::2], strict=True))}
    before = Payment.objects.count()

    # when
    with pytest.raises(CommandError) as error:
        call_command("pay", *(part.format(**ids) for pair in options.items() for part in pair))

    # then
    assert str(error.value).startswith(message.format(**ids))
    assert Payment.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_pay_wait_shows_the_payment_completed_by_the_worker(
    celery_worker, alice_account, bob_account, capsys
):
    call_command(
        "pay",
        *("--from", str(alice_account.pk), "--to", str(bob_account.pk), "--amount", "12.50"),
        *("--key", "wait-1", "--wait", "--timeout", "60"),
    )

    payment = customer_payments().get()
    assert payment.status == "completed"
    assert f"Payment {payment.pk} is completed." in capsys.readouterr().out
    assert Account.objects.get(pk=bob_account.pk).balance == Decimal("12.50")


@pytest.mark.django_db(transaction=True)
def test_pay_wait_fails_with_the_reason_when_the_worker_refuses(
    celery_worker, alice_account, bob_account
):
    with pytest.raises(CommandError) as error:
        call_command(
            "pay",
            *("--from", str(bob_account.pk), "--to", str(alice_account.pk), "--amount", "5"),
            *("--wait", "--timeout", "60"),
        )

    payment = customer_payments().get()
    assert str(error.value) == (
        f"Payment {payment.pk} failed: Insufficient funds: account #{bob_account.pk} "
        "holds 0.00 EUR, the payment needs 5.00."
    )


# -- import_payments ----------------------------------------------------------------


@pytest.mark.django_db
def test_import_queues_every_row_with_a_key_from_the_file_and_its_line(
    tmp_path, alice_account, bob_account, capsys
):
    # given
    a, b = alice_account.pk, bob_account.pk
    path = write_csv(
        tmp_path,
        "\ufeffFrom, To ,amount,description\n"
        f"{a},{b},10,Rent\n\n{a},{b}, 2.5 ,\n{b},{a},1.00,Back\n",
    )

    # when
    call_command("import_payments", str(path))

    # then
    prefix = key_prefix(path)
    rows = list(
        customer_payments()
        .order_by("pk")
        .values_list("payer", "payee", "amount", "description", "idempotency_key", "status")
    )
    assert rows == [
        (a, b, Decimal("10.00"), "Rent", f"{prefix}-2", "pending"),
        (a, b, Decimal("2.50"), "", f"{prefix}-4", "pending"),
        (b, a, Decimal("1.00"), "Back", f"{prefix}-5", "pending"),
    ]
    assert all(customer_payments().values_list("task_id", flat=True))
    assert capsys.readouterr().out == "queued 3/3\n3 payments queued.\n"


@pytest.mark.django_db
def test_import_shows_progress_every_few_rows(
    tmp_path, alice_account, bob_account, capsys, monkeypatch
):
    monkeypatch.setattr(import_payments, "PROGRESS_EVERY", 2)
    rows = "".join(f"{alice_account.pk},{bob_account.pk},1.00\n" for _ in range(5))
    path = write_csv(tmp_path, f"from,to,amount\n{rows}")

    call_command("import_payments", str(path))

    assert capsys.readouterr().out.splitlines() == [
        "queued 2/5",
        "queued 4/5",
        "queued 5/5",
        "5 payments queued.",
    ]
    assert customer_payments().count() == 5


@pytest.fixture
def mixed_file(tmp_path, other_user, alice_account, bob_account):
    """Three good rows among twelve bad ones, on known lines (a blank line 11, and
    line 12 spans two lines)."""
    usd = open_funded(other_user, name="Dollars", currency="USD", deposit="0")
    closed = services.account_close(account=open_funded(other_user, name="Old", deposit="0"))
    a, b = alice_account.pk, bob_account.pk
    lines = [
        HEADER.strip(),  # 1
        f"{a},{b},10.00,,Rent,",  # 2: good
        f"{a},{b},0,,,",  # 3
        f"{a},{b},-5,,,",  # 4
        f"{a},{b},1.001,,,",  # 5
        f"{a},999999,1.00,,,",  # 6
        f"{a},{a},1.00,,,",  # 7
        f"{a},{usd.pk},1.00,,,",  # 8
        f"{a},{b},1.00,,,has space",  # 9
        f"{a},,1.00,,,",  # 10
        "",  # 11: blank, skipped
        f'{a},{b},2.50,EUR,"two\nlines",k-12',  # 12 and 13: good
        f"{a},{closed.pk},1.00,,,",  # 14
        f"{a},{b},1.00,XYZ,,",  # 15
        f"{a},{b},1.00",  # 16
        f"{a},{b},1.00,,,k-12",  # 17
        f"{b},{a},3.00,,,",  # 18: good (the worker would refuse it: Bob has nothing)
    ]
    path = write_csv(tmp_path, "\n".join(lines) + "\n")
    return path, usd, closed


MIXED_REASONS = [
    "line 3: The amount must be more than zero, got 0.",
    "line 4: The amount must be more than zero, got -5.",
    "line 5: The amount 1.001 has more than 2 decimals.",
    "line 6: No account #999999.",
    "line 7: The payer and the payee are the same account.",
    "line 8: Currency mismatch: the payment is in EUR, account #{usd} holds USD.",
    "line 9: The idempotency key must be 1 to 64 letters, digits, '.', '_', ':' or '-', "
    "starting with a letter or digit.",
    "line 10: 'to' is empty.",
    "line 14: Account #{closed} is closed.",
    "line 15: Unknown currency 'XYZ': use EUR, USD, GBP, CHF.",
    "line 16: 3 values, but the header names 6 columns.",
    "line 17: The key 'k-12' is on line 12 for another payment.",
]


@pytest.mark.django_db
def test_import_lists_every_bad_row_by_line_and_still_queues_the_good_ones(
    mixed_file, alice_account, bob_account, capsys
):
    # given
    path, usd, closed = mixed_file

    # when
    with pytest.raises(CommandError) as error:
        call_command("import_payments", str(path))

    # then
    assert str(error.value) == "12 of 15 rows were rejected; the other 3 were queued."
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        *(reason.format(usd=usd.pk, closed=closed.pk) for reason in MIXED_REASONS),
        "Put the corrected rows in a new file: this one, edited, would pay its good rows "
        "again (a row without a key gets one from the file's content).",
    ]
    assert captured.out == "queued 3/3\n3 payments queued.\n"
    a, b = alice_account.pk, bob_account.pk
    prefix = key_prefix(path)
    assert list(
        customer_payments()
        .order_by("pk")
        .values_list("payer", "payee", "amount", "description", "idempotency_key", "status")
    ) == [
        (a, b, Decimal("10.00"), "Rent", f"{prefix}-2", "pending"),
        (a, b, Decimal("2.50"), "two\nlines", "k-12", "pending"),
        (b, a, Decimal("3.00"), "", f"{prefix}-18", "pending"),
    ]


@pytest.mark.django_db
def test_importing_the_same_file_twice_pays_once(mixed_file, capsys):
    # given
    path, _, _ = mixed_file
    with pytest.raises(CommandError):
        call_command("import_payments", str(path))
    first = set(customer_payments().values_list("pk", flat=True))
    capsys.readouterr()

    # when
    with pytest.raises(CommandError) as error:
        call_command("import_payments", str(path))

    # then
    assert set(customer_payments().values_list("pk", flat=True)) == first
    assert str(error.value) == (
        "12 of 15 rows were rejected; the other 3 were queued (3 already made: same key)."
    )
    assert capsys.readouterr().out == "queued 3/3\n0 payments queued (3 already made: same key).\n"


@pytest.mark.django_db
def test_import_a_key_twice_for_the_same_payment_pays_once(
    tmp_path, alice_account, bob_account, capsys
):
    a, b = alice_account.pk, bob_account.pk
    path = write_csv(tmp_path, f"from,to,amount,key\n{a},{b},4.00,inv-1\n{a},{b},4,inv-1\n")

    call_command("import_payments", str(path))

    assert customer_payments().get().idempotency_key == "inv-1"
    assert capsys.readouterr().out == "queued 2/2\n1 payment queued (1 already made: same key).\n"


@pytest.mark.django_db
def test_import_refuses_a_key_used_before_for_another_payment(
    tmp_path, alice_account, bob_account, capsys
):
    # given
    earlier, _ = services.payment_create(
        payer_id=alice_account.pk, payee_id=bob_account.pk, amount="1", idempotency_key="inv-1"
    )
    a, b = alice_account.pk, bob_account.pk
    path = write_csv(tmp_path, f"from,to,amount,key\n{a},{b},9.00,inv-1\n{a},{b},1.00,inv-2\n")

    # when
    with pytest.raises(CommandError, match=r"^1 of 2 rows were rejected; the other 1 were queued"):
        call_command("import_payments", str(path))

    # then
    assert capsys.readouterr().err == (
        f"line 2: The idempotency key 'inv-1' was used for a different payment (#{earlier.pk}); "
        "use a new key for a new payment.\n"
    )
    assert list(customer_payments().order_by("pk").values_list("idempotency_key", flat=True)) == [
        "inv-1",
        "inv-2",
    ]


@pytest.mark.django_db
def test_import_reports_a_row_refused_between_the_check_and_the_payment(
    tmp_path, monkeypatch, other_user, alice_account, bob_account, capsys
):
    # given: Bob's main account is closed while the file is being checked
    create = import_payments.Command._create

    def close_then_create(command, rows):
        services.account_close(account=bob_account)
        return create(command, rows)

    monkeypatch.setattr(import_payments.Command, "_create", close_then_create)
    savings = open_funded(other_user, name="Bob savings", deposit="0")
    a, b = alice_account.pk, bob_account.pk
    path = write_csv(tmp_path, f"from,to,amount,key\n{a},{b},1,one\n{a},{savings.pk},2,two\n")

    # when
    with pytest.raises(CommandError) as error:
        call_command("import_payments", str(path))

    # then
    assert str(error.value) == "1 of 2 rows were rejected; the other 1 were queued."
    assert capsys.readouterr().err == f"line 2: Account #{b} is closed.\n"
    assert customer_payments().get().payee_id == savings.pk


@pytest.mark.django_db
def test_import_of_a_header_alone_pays_nothing(tmp_path, capsys):
    path = write_csv(tmp_path, "from,to,amount\n\n")

    call_command("import_payments", str(path))

    assert capsys.readouterr().out == f"{path} has no rows after its header: nothing to pay.\n"
    assert Payment.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No file {path}."),
        (b"", "{path} is empty: expected the header from,to,amount."),
        (b"\n \n", "{path} is empty: expected the header from,to,amount."),
        (
            b"from,to,amount\n1,2,3\xe9\n",
            "{path} is not UTF-8 text (byte 20): save it as UTF-8 CSV.",
        ),
        (
            b"1,2,10.00\n",
            "Line 1 of {path} must be the header from,to,amount (optional columns: currency, "
            "description, key); it has no from, to, amount: '1,2,10.00'.",
        ),
        (
            b"from,to,sum\n",
            "Line 1 of {path} must be the header from,to,amount (optional columns: currency, "
            "description, key); it has no amount: 'from,to,sum'.",
        ),
        (
            b"from,to,amount,note\n",
            "Unknown column(s) 'note' in the header of {path}: "
            "use from, to, amount, currency, description, key.",
        ),
        (b"from,to,amount,to\n", "Column(s) to twice in the header of {path}."),
        (
            b"from,to,amount\n1,2," + b"9" * 200_000 + b"\n",
            "{path}, line 2: field larger than field limit (131072).",
        ),
        (
            b"from,to,amount\n1,2,3\x00\n",
            "{path} is not a text file (a NUL byte at byte 20): expected a UTF-8 CSV.",
        ),
        (
            b"GIF89a\x01\x00\x01\x00\x80",
            "{path} is not a text file (a NUL byte at byte 7): expected a UTF-8 CSV.",
        ),
        (b"from,to,amount\n1,2,3\xc3", "{path} is not UTF-8 text (byte 20): save it as UTF-8 CSV."),
        (b"\xff\xd8\xff\xe0JFIF", "{path} is not UTF-8 text (byte 0): save it as UTF-8 CSV."),
    ],
)
def test_import_refuses_a_bad_file_and_writes_nothing(tmp_path, content, message):
    path = tmp_path / "payments.csv"
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(CommandError) as error:
        call_command("import_payments", str(path))

    assert str(error.value) == message.format(path=path)
    assert Payment.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_import_wait_follows_the_worker_to_the_end(
    celery_worker, tmp_path, other_user, alice_account, bob_account, capsys
):
    # given: two payments Alice can make, and one from an empty account
    empty = open_funded(other_user, name="Empty", deposit="0")
    a, b = alice_account.pk, bob_account.pk
    path = write_csv(tmp_path, f"from,to,amount\n{a},{b},60.00\n{empty.pk},{a},5.00\n{a},{b},30\n")

    # when
    with pytest.raises(CommandError) as error:
        call_command("import_payments", str(path), "--wait", "--timeout", "60")

    # then
    assert str(error.value) == "1 of 3 payments failed."
    failed = customer_payments().get(status="failed")
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-1] == "completed 2, failed 1, pending 0"
    assert captured.err == (
        f"line 3: payment {failed.pk} failed: Insufficient funds: account #{empty.pk} "
        "holds 0.00 EUR, the payment needs 5.00.\n"
    )
    assert [each.balance for each in Account.objects.filter(pk__in=[a, b]).order_by("pk")] == [
        Decimal("10.00"),
        Decimal("90.00"),
    ]
    assert services.ledger_check() == []


# -- check_ledger -------------------------------------------------------------------


@pytest.mark.django_db
def test_check_ledger_sums_up_a_sound_ledger(alice_account, bob_account, capsys):
    # given: a deposit and a payment, applied
    payment, _ = services.payment_create(
        payer_id=alice_account.pk, payee_id=bob_account.pk, amount="12.50", idempotency_key="k"
    )
    services.payment_process(payment_id=payment.pk)

    # when
    call_command("check_ledger")

    # then
    assert capsys.readouterr().out == ("Ledger OK: 3 accounts, 4 entries, 2 completed payments.\n")


@pytest.mark.django_db
def test_check_ledger_lists_each_problem_and_fails(alice_account, bob_account, capsys):
    # given: a balance changed behind the ledger's back, and a lost entry
    payment, _ = services.payment_create(
        payer_id=alice_account.pk, payee_id=bob_account.pk, amount="12.50", idempotency_key="k"
    )
    services.payment_process(payment_id=payment.pk)
    Account.objects.filter(pk=alice_account.pk).update(balance=Decimal("90.00"))
    before = Payment.objects.count()

    # when
    with pytest.raises(CommandError) as error:
        call_command("check_ledger")

    # then
    assert str(error.value) == "Ledger check found 1 problem(s)."
    assert capsys.readouterr().err == (
        f"Account #{alice_account.pk} (Alice main): balance 90.00 EUR, "
        "but its ledger entries sum to 87.50.\n"
    )
    assert Payment.objects.count() == before
    LedgerEntry.objects.filter(payment=payment, account=bob_account).delete()
    with pytest.raises(CommandError, match=r"^Ledger check found 4 problem\(s\)\.$"):
        call_command("check_ledger")


# -- open_account ---------------------------------------------------------------------


@pytest.mark.django_db
def test_open_account_with_a_deposit(user, capsys):
    call_command("open_account", "alice", "--currency", "EUR", "--deposit", "100.00")

    account = Account.objects.get(owner=user)
    assert (account.name, account.currency, account.balance) == ("Main", "EUR", Decimal("100"))
    deposit = Payment.objects.get(payee=account)
    assert (deposit.idempotency_key, deposit.status) == (f"open-{account.pk}", "completed")
    assert services.ledger_check() == []
    assert capsys.readouterr().out == (
        f"Account {account.pk} opened for alice: Main, balance 100.00 EUR.\n"
    )


@pytest.mark.django_db
def test_open_account_if_none_opens_each_name_once(user, capsys):
    # given
    args = ["open_account", "alice", "--currency", "USD", "--name", "Travel", "--if-none"]
    call_command(*args, "--deposit", "5")

    # when
    call_command(*args, "--deposit", "5")
    call_command(*args[:4], "--name", "Other", "--if-none")

    # then
    travel, other = Account.objects.filter(owner=user).order_by("pk")
    assert (travel.name, travel.balance, other.name, other.balance) == (
        "Travel",
        Decimal("5.00"),
        "Other",
        Decimal("0.00"),
    )
    assert capsys.readouterr().out.splitlines()[1] == (
        f"alice already has account {travel.pk} Travel (USD); nothing opened."
    )


@pytest.mark.django_db
def test_the_demo_accounts_of_make_run_are_opened_once(settings):
    # given: the lines of `make run`, twice
    settings.DEBUG = True
    for _ in range(2):
        call_command("demo_user")
        call_command(
            *("open_account", "demo", "--currency", "EUR", "--name", "Demo main"),
            *("--deposit", "1000.00", "--if-none"),
        )
        call_command(
            "open_account", "demo", "--currency", "EUR", "--name", "Demo savings", "--if-none"
        )

    # then
    assert list(Account.objects.filter(owner__username="demo").values_list("name", "balance")) == [
        ("Demo main", Decimal("1000.00")),
        ("Demo savings", Decimal("0.00")),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bob", "--currency", "EUR"], "No user named 'bob'."),
        (["alice", "--currency", "XYZ"], "Unknown currency 'XYZ': use EUR, USD, GBP, CHF."),
        (["alice", "--currency", "EUR", "--deposit", "0"], "must be more than zero, got 0."),
        (["alice", "--currency", "EUR", "--deposit", "1.001"], "has more than 2 decimals."),
        (["alice", "--currency", "EUR", "--deposit", "lots"], "'lots' is not an amount."),
        (["alice", "--currency", "EUR", "--deposit", "1e26"], "'1e26' is not an amount."),
        (["alice", "--currency", "EUR", "--deposit", "\u0663"], "is not an amount."),
        (["alice", "--currency", "EUR", "--name", " "], "The account needs a name."),
    ],
)
def test_open_account_refuses_bad_input_and_writes_nothing(user, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("open_account", *args)

    assert Account.objects.count() == 0
    assert Payment.objects.count() == 0


# -- input that crashed the commands (issue 14) ----------------------------------------


@pytest.mark.django_db
def test_import_lists_rows_of_exponents_and_other_digits_among_the_bad_ones(
    tmp_path, alice_account, bob_account, capsys
):
    # given: one good row, then rows that crashed the import (and hid the others)
    a, b = alice_account.pk, bob_account.pk
    path = write_csv(
        tmp_path,
        f"from,to,amount\n{a},{b},1.00\n{a},{b},1e400\n\u00b2,{b},1.00\n{a},\u00b2,1.00\n"
        f"{a},{b},\u0663\n{a},{b},1E+30\n{a},{b},{10**40}\n{'9' * 30},{b},1.00\n",
    )

    # when
    with pytest.raises(CommandError) as error:
        call_command("import_payments", str(path))

    # then
    assert str(error.value) == "7 of 8 rows were rejected; the other 1 were queued."
    assert capsys.readouterr().err.splitlines()[:7] == [
        "line 3: '1e400' is not an amount.",
        "line 4: The payer must be an account number, got '\u00b2'.",
        "line 5: The payee must be an account number, got '\u00b2'.",
        "line 6: '\u0663' is not an amount.",
        "line 7: '1E+30' is not an amount.",
        f"line 8: The amount {10**40} is over the largest allowed, 999999999999.99.",
        f"line 9: The payer must be an account number, got '{'9' * 30}'.",
    ]
    assert customer_payments().count() == 1


@pytest.mark.django_db
def test_import_stops_at_once_on_an_endless_binary_file():
    # when: /dev/zero never ends; it was read into memory until the kernel killed it
    with pytest.raises(CommandError) as error:
        call_command("import_payments", "/dev/zero")

    # then
    assert str(error.value) == (
        "/dev/zero is not a text file (a NUL byte at byte 0): expected a UTF-8 CSV."
    )


@pytest.mark.django_db
def test_import_refuses_a_file_over_the_size_limit(settings, tmp_path, alice_account, bob_account):
    # given
    settings.IMPORT_MAX_BYTES = 100_000
    row = f"{alice_account.pk},{bob_account.pk},1.00\n"
    path = write_csv(tmp_path, "from,to,amount\n" + row * (100_000 // len(row) + 1))

    # when
    with pytest.raises(CommandError) as error:
        call_command("import_payments", str(path))

    # then
    assert str(error.value) == (
        f"{path} is larger than 100,000 bytes (IMPORT_MAX_BYTES): split it into smaller files."
    )
    assert customer_payments().count() == 0


@pytest.mark.django_db
def test_a_file_just_under_the_limit_is_read(settings, tmp_path, alice_account, bob_account):
    path = write_csv(tmp_path, f"from,to,amount\n{alice_account.pk},{bob_account.pk},1.00\n")
    settings.IMPORT_MAX_BYTES = path.stat().st_size

    call_command("import_payments", str(path))

    assert customer_payments().count() == 1
