"""The shared model: the values every part reads and none owns.

`snapshot` (what collection produces and checks read), `finding` (what checks produce and sinks
publish), `arm_ids` (ARM resource id helpers) and `errors`. It imports no other part of the app.
"""
