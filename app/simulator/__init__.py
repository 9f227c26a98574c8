"""The embedded WeCom simulator: a real HTTP server on a loopback address.

org.py (YAML org) → state.py (tokens, virtual clock, records, faults) → qyapi.py (the endpoints)
and control.py (/_sim/) → server.py (the FastAPI app) → runner.py (SimulatorServer,
serve_simulator); sender.py delivers encrypted callbacks to the service.
Kept import-free so `import app.simulator.x` stays cheap.
"""
