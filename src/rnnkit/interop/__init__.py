"""Moving weights between rnnkit and other libraries."""
