"""Admin for accounts, payments and the ledger.

Money moves only through the services: balances, amounts and ledger lines
are read-only here, and ledger lines can be neither added, changed nor deleted.
"""

from django.contrib import admin

from payments.models import Account, LedgerEntry, Payment


class LedgerInline(admin.TabularInline):
    model = LedgerEntry
    fields = ("created_at", "payment", "amount", "balance_after")
    readonly_fields = fields
    ordering = ("-pk",)
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "owner", "kind", "currency", "balance", "closed_at")
    list_filter = ("kind", "currency", ("closed_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "owner__username")
    readonly_fields = ("balance", "created_at")
    inlines = [LedgerInline]

    def get_readonly_fields(self, request, obj=None):
        # The currency and kind of an account with money on it never change.
        return self.readonly_fields + (("kind", "currency") if obj else ())


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ("id", "payer", "payee", "amount", "currency", "status", "created_at")
    list_filter = ("status", "currency")
    search_fields = ("idempotency_key", "payer__name", "payee__name", "task_id")
    list_select_related = ("payer", "payee")
    readonly_fields = (
        "idempotency_key",
        "payer",
        "payee",
        "amount",
        "currency",
        "refund_of",
        "status",
        "failure_reason",
        "created_by",
        "task_id",
        "created_at",
        "enqueued_at",
        "processed_at",
    )
    inlines = [LedgerInline]

    def has_add_permission(self, request):
        return False  # payments are made through the site, the API or `manage.py pay`

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "account", "payment", "amount", "balance_after")
    list_filter = ("account__currency",)
    search_fields = ("account__name", "payment__idempotency_key")
    list_select_related = ("account", "payment")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
