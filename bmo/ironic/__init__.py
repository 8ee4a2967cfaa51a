"""The Ironic provisioner (openstacksdk). Never imports Kubernetes code."""
