"""The outbound edge: the playbooks' messages delivered to people, and their acknowledgements back.

- :mod:`notifiers.model` - the ``notifications`` record (:class:`~notifiers.model.NotificationIn`),
  the allow-listed incident facts, rendered e-mails and webhook bodies;
- :mod:`notifiers.render` - pure rendering from ``templates/email`` (Japanese first), and the PII guard;
- :mod:`notifiers.smtp` / :mod:`notifiers.webhook` - the two transports (aiosmtplib, aiohttp);
- :mod:`notifiers.outbox_store` / :mod:`notifiers.journal` - the outbox and escalation chains on disk;
- :mod:`notifiers.ack_server` - the acknowledgement endpoint;
- :mod:`notifiers.service` - :class:`~notifiers.service.Notifier`, which ties them together;
- :mod:`notifiers.smtp_sink` - ``python -m notifiers.smtp_sink``, an SMTP sink for ``make run``.

The pure parts live in the domain: :mod:`kinkyu.core.ack` (tokens), :mod:`kinkyu.core.escalation`
(who is told next) and :mod:`kinkyu.core.outbox` (entries, retries).
"""
