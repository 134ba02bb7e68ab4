-- Destination tables for the example routes (examples/routes.yaml).
CREATE TABLE IF NOT EXISTS acme_orders (
  order_id    BIGINT        NOT NULL PRIMARY KEY,
  customer    VARCHAR(200)  NOT NULL,
  amount      DECIMAL(12,2) NOT NULL,
  ordered_at  DATE          NOT NULL,
  notes       TEXT          NULL
) DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS globex_customers (
  customer_id  INT           NOT NULL PRIMARY KEY,
  name         VARCHAR(200)  NOT NULL,
  email        VARCHAR(320)  NULL,
  city         VARCHAR(100)  NULL
) DEFAULT CHARSET = utf8mb4;
