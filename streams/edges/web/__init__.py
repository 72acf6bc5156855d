"""The unsubscribe service behind `sendgate web`: one-click endpoint, pages, limits."""
