"""The Kafka edge: the faust worker, its hot path, topics and the embedded broker."""
