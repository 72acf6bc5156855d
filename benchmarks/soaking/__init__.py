"""`soak.py`'s parts: the workload and its numbered sends (`workload`), the side traffic mixed
into the load (`mix`), what every decision is checked against (`checks`), the soak's watch over
the workers (`watch`), and its figures and tables (`figures`, `printing`)."""

__all__: list[str] = []
