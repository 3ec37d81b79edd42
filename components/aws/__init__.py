"""AWS building blocks of a tenant that are neither network, cluster nor storage: its
online feature store (DynamoDB or ElastiCache Redis), its SQS queues, and the tags that
name a data-bearing resource's owner and classification."""
