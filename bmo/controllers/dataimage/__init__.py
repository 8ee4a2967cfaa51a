"""The DataImage controller: an ISO attached as a virtual-media CD to a provisioned host."""
