def message_arguments(parser) -> None:
    """The options of one message, alike for ``send_notification`` and ``broadcast``."""
    parser.add_argument("--channel", required=True, help="email, sms, push or in_app")
    parser.add_argument("--subject", default="")
    parser.add_argument("--priority", default="normal", help="low, normal, high or urgent")
