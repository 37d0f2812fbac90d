package kcdata.portal;

import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.solr.embedded.JettyConfig;
import org.apache.solr.embedded.JettySolrRunner;

/**
 * Runs a real Solr 9 over HTTP for the local CKAN portal.
 *
 * <p>JettySolrRunner (solr-test-framework) starts Jetty with Solr's own dispatch filter and core
 * container, exactly as a Solr distribution does, and binds to 127.0.0.1 only. The solr home
 * (solr.xml + one core per folder with core.properties) is prepared by portal/stack/solr.py.
 *
 * <p>Usage: {@code SolrMain <solr-home> <port>}. SIGTERM stops Jetty and closes the cores cleanly
 * (stopAtShutdown registers a shutdown hook).
 */
public final class SolrMain {
  private SolrMain() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: SolrMain <solr-home> <port>");
      System.exit(2);
    }
    Path home = Path.of(args[0]).toAbsolutePath();
    int port = Integer.parseInt(args[1]);
    if (!Files.isRegularFile(home.resolve("solr.xml"))) {
      System.err.println("no solr.xml in " + home);
      System.exit(2);
    }
    JettyConfig config =
        JettyConfig.builder()
            .setPort(port)
            .setContext("/solr")
            .stopAtShutdown(true)
            .useOnlyHttp1(true)
            .build();
    JettySolrRunner runner = new JettySolrRunner(home.toString(), config);
    runner.start();
    System.out.println(
        "kcdata-solr: Solr "
            + org.apache.solr.client.api.util.SolrVersion.LATEST
            + " listening on "
            + runner.getBaseUrl()
            + " (home "
            + home
            + ")");
    System.out.flush();
    // Jetty's threads are not daemons: the JVM lives until SIGTERM runs the shutdown hook.
  }
}
