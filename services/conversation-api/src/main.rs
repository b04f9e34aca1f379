//! conversation-api as its own process (production: PostgreSQL + RabbitMQ).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = conversations_telemetry::init("conversation-api", "info");
    let config = conversation_api::Config::from_env()?;
    tracing::info!(addr = %config.http_addr, "conversation-api starting");
    let app = conversation_api::Application::build(config).await?;
    conversations_web::metrics::spawn_separate(Some(app.metrics_refresh()))?;
    app.run_until_stopped().await?;
    Ok(())
}
