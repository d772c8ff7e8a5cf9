"""The outbound edge: the playbooks' messages delivered to people, and their acknowledgements back.

- :mod:`notifiers.model` - the ``notifications`` record (:class:`~notifiers.model.NotificationIn`),
  the allow-listed incident facts, rendered e-mails and webhook bodies;
- :mod:`notifiers.render` - pure rendering from ``templates/email`` (Japanese first), and the PII guard;
- :mod:`notifiers.smtp` / :mod:`notifiers.webhook` - the two transports (aiosmtplib, aiohttp);
- :mod:`notifiers.outbox_store` / :mod:`notifiers.journal` - the outbox and escalation chains on disk;
- :mod:`notifiers.ack_server` - the acknowledgement endpoint;
- :mod:`notifiers.settings` - ``KINKYU_NOTIFY_*`` settings and webhook targets;
- :mod:`notifiers.plan` - which escalation chain a record starts (who is told, in which order);
- :mod:`notifiers.enqueue` - a chain's stage rendered and put in the outbox, one entry per recipient;
- :mod:`notifiers.delivery` - due outbox entries attempted through the transports, with retries;
- :mod:`notifiers.acks` - acknowledgements: chains stopped, the city's acknowledgement filed;
- :mod:`notifiers.timeline` - what the notifier writes on an incident's timeline;
- :mod:`notifiers.service` - :class:`~notifiers.service.Notifier`, which wires them together;
- :mod:`notifiers.smtp_sink` - ``python -m notifiers.smtp_sink``, an SMTP sink for ``make run``.

The pure parts live in the domain: :mod:`kinkyu.core.ack` (tokens), :mod:`kinkyu.core.escalation`
(who is told next) and :mod:`kinkyu.core.outbox` (entries, retries).
"""
