"""Self-labelled and online BFPO: the policy's own responses, machine-labelled, as BFPO pairs."""
