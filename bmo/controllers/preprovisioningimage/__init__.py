"""The PreprovisioningImage controller: builds (through an image provider) the deploy image
each host asked for, and reports it in the image's status."""
