"""billcycle: a subscription billing engine that speaks the Zuora v1 and Fusebill APIs."""

__version__ = "0.1.0"
