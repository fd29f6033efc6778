from notifications.selectors import inbox_unread_count

UNREAD_POLL_SECONDS = 30  # how often an open page asks the API for the unread count


def unread_notifications(request) -> dict:
    """The header's unread badge (notifications/unread.js keeps it current)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "unread_notifications": inbox_unread_count(user=user),
        "unread_poll_seconds": UNREAD_POLL_SECONDS,
    }
