"""The pure domain: events, contracts, rules, findings, incidents, deadlines.

Nothing under this package performs I/O or imports faust, aiokafka, aiosmtplib
or jinja2; it is tested without a broker and shared by the live worker and by
``kinkyu replay``.
"""
