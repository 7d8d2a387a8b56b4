"""Clinical-trial matching: (patient topic, trial) → relevance 0/1/2, ranked per topic."""
