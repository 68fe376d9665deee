"""Event publisher on EventBridge."""

from __future__ import annotations

from maas.adapters.aws import client
from maas.events import SOURCE, PlatformEvent


class EventPublishError(RuntimeError):
    """EventBridge refused an entry."""


class EventBridgePublisher:
    def __init__(self, bus_name: str) -> None:
        self._bus = bus_name
        self._events = client("events")

    def publish(self, event: PlatformEvent) -> None:
        result = self._events.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": event.detail_type,
                    "Detail": event.model_dump_json(),
                    "EventBusName": self._bus,
                }
            ]
        )
        if result.get("FailedEntryCount"):
            raise EventPublishError(f"EventBridge refused {event.detail_type}: {result['Entries']}")
