"""Events from email service providers (Amazon SES through SNS, SendGrid, Mailgun, Postmark):
how each proves a request is its own, and how its events become sendgate's records."""
