"""The Function app's sweep: what its triggers run with (`runtime`, `storage`), the timer's fan-out of one
queue message per cluster (`fanout`, bounded by `steps`), the queue message (`messages`) and the worker that
checks one cluster (`worker`), the sweep's bookkeeping in Table Storage (`bookkeeping`: which clusters are
pending, the totals, the one closer) and the HTTP check with its caller rules (`http_check`, `http_access`).
It never imports the command line nor the change-driven rechecks: those plug into its `Runtime`."""
