"""The steps of a check, one module each, in the order the runner uses them."""
