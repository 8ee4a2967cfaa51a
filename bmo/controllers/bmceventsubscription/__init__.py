"""The BMCEventSubscription controller: a host BMC's Redfish events sent to a webhook."""
