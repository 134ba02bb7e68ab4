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

-- A Brazilian retailer's daily sales export (Windows-1252, ';', decimal comma, dd/MM/yyyy), plain and gzip.
CREATE TABLE IF NOT EXISTS lojas_vendas (
  pedido       BIGINT        NOT NULL PRIMARY KEY,
  loja         VARCHAR(60)   NOT NULL,
  cliente      VARCHAR(120)  NOT NULL,
  valor_total  DECIMAL(12,2) NOT NULL,
  data_venda   DATE          NOT NULL,
  emitida_em   DATETIME(6)   NULL,
  pago         BOOLEAN       NOT NULL,
  observacao   TEXT          NULL
) DEFAULT CHARSET = utf8mb4;
