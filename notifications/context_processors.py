from notifications.services import inbox_unread_count


def unread_notifications(request) -> dict:
    """The header's unread badge."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": inbox_unread_count(user=user)}
