"""The seam to the broker that the worker and the console share.

- :mod:`kinkyu.bus.topics`: the topic names (:class:`~kinkyu.bus.topics.Topics`);
- :mod:`kinkyu.bus.sink`: sending records (:class:`~kinkyu.bus.sink.KafkaSink`);
- :mod:`kinkyu.bus.exceptions`: the broker is unreachable, or refuses a record.

It sits below :mod:`kinkyu.streams` (the worker) and :mod:`kinkyu.console`
(which files incident events), so neither imports the other to reach Kafka.
"""
