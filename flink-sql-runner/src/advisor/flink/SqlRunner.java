package advisor.flink;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.StatementSet;
import org.apache.flink.table.api.TableEnvironment;

/**
 * Runs a file of Flink SQL as one job, so SQL works on any Flink cluster through the REST
 * API's jar endpoints, without a SQL Gateway.
 *
 * <p>Each program argument is one statement, {@code LINE:BASE64(statement)}: `advisor submit
 * flink --sql` splits the file (it knows strings and comments) and keeps the line so an
 * error names it. SET statements change the table configuration (those before the first
 * other statement configure the environment itself, so 'execution.runtime-mode' can be set
 * there), INSERT statements are
 * gathered into one statement set, everything else (CREATE TABLE, CREATE VIEW, ...) runs as
 * it comes. The statement set is submitted without waiting for its result: under the REST
 * API's web submission a job client cannot fetch the result, and the job runs on its own.
 */
public final class SqlRunner {
    private static final Pattern SET =
            Pattern.compile("SET\\s+'([^']+)'\\s*=\\s*'(.*)'\\s*;?", Pattern.CASE_INSENSITIVE | Pattern.DOTALL);
    private static final Pattern INSERT =
            Pattern.compile("(INSERT|EXECUTE\\s+INSERT)\\s.*", Pattern.CASE_INSENSITIVE | Pattern.DOTALL);

    private SqlRunner() {}

    public static void main(String[] args) {
        if (args.length == 0) {
            throw new IllegalArgumentException("no statements: arguments are LINE:BASE64(statement)");
        }
        String[] lines = new String[args.length];
        String[] statements = new String[args.length];
        for (int i = 0; i < args.length; i++) {
            int colon = args[i].indexOf(':');
            if (colon < 0) {
                throw new IllegalArgumentException("argument is not LINE:BASE64(statement): " + args[i]);
            }
            lines[i] = args[i].substring(0, colon);
            String sql = new String(Base64.getDecoder().decode(args[i].substring(colon + 1)), StandardCharsets.UTF_8)
                    .trim();
            statements[i] = sql.endsWith(";") ? sql.substring(0, sql.length() - 1).trim() : sql;
        }
        Configuration leading = new Configuration();
        int first = 0;
        for (; first < statements.length; first++) {
            Matcher set = SET.matcher(statements[first]);
            if (!set.matches()) {
                break;
            }
            leading.setString(set.group(1), set.group(2));
        }
        TableEnvironment tables =
                TableEnvironment.create(EnvironmentSettings.newInstance().withConfiguration(leading).build());
        StatementSet inserts = tables.createStatementSet();
        int insertCount = 0;
        for (int i = first; i < statements.length; i++) {
            String sql = statements[i];
            try {
                Matcher set = SET.matcher(sql);
                if (set.matches()) {
                    tables.getConfig().set(set.group(1), set.group(2));
                } else if (INSERT.matcher(sql).matches()) {
                    inserts.addInsertSql(sql.toUpperCase(Locale.ROOT).startsWith("EXECUTE")
                            ? sql.substring("EXECUTE".length()).trim()
                            : sql);
                    insertCount++;
                } else {
                    tables.executeSql(sql);
                }
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("line " + lines[i] + ": " + rootMessage(e), e);
            }
        }
        if (insertCount == 0) {
            throw new IllegalArgumentException("the file has no INSERT statement, so there is no job to run");
        }
        inserts.execute();
    }

    private static String rootMessage(Throwable e) {
        Throwable cause = e;
        while (cause.getCause() != null && cause.getCause() != cause) {
            cause = cause.getCause();
        }
        String message = cause.getMessage();
        String outer = e.getMessage();
        if (outer != null && message != null && !outer.equals(message)) {
            return outer + ": " + message;
        }
        return outer != null ? outer : String.valueOf(message);
    }
}
