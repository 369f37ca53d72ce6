"""``bfpo-ray compare``: train several methods from one config, evaluate them on one benchmark,
and report quality and cost side by side."""
