"""The monitor component: served traffic (or a new batch of data) against what the model was
trained and validated on -> drift report and a retrain decision. See components/monitor/README.md."""
