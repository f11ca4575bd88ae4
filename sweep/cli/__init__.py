"""The command line (`python -m sweep`): its arguments and exit status (`main`), the progress bar on the
terminal (`console`), the live sweep of an estate (`live`) in several forked processes (`processes`), and
the compact form results travel in between them (`packed`). The Function app never imports it."""
