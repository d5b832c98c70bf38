"""How much the grader reads from a kernel: :mod:`grader.kernel.clients` enforces these caps, :mod:`grader.kernel.execute` words them."""

TRUNCATED = "\n[... output truncated by the grader ...]\n"
# libzmq drops any single message over this size before the grader allocates it (probe answers are <= 4 MiB,
# twice that once JSON-escaped), and queues at most this many unread output messages.
MAX_MESSAGE_BYTES = 9 * 1024 * 1024
MAX_QUEUED_MESSAGES = 16  # with MAX_MESSAGE_BYTES, bounds what a flood can queue in the grader (~144 MB)
SEND_TIMEOUT_MS = 10_000
MAX_ERROR_CHARS = 300  # characters of a student's exception message kept in the report
